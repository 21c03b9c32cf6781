using System.Diagnostics;
using System.Text.Json;

namespace Activations.Coordinator.Tests;

/// <summary>
/// Reads activation files with tests/tools/read_activations.py: .pt through the real <c>torch.load(weights_only=True)</c>
/// of /usr/bin/python3 (PyTorch 1.13 there), .safetensors through safetensors when installed, else torch.frombuffer,
/// or with the standard library alone (<c>--no-torch</c>).
/// </summary>
public static class PythonReader
{
    /// <summary>The Python that has PyTorch (Debian's python3-torch).</summary>
    public const string TorchPython = "/usr/bin/python3";

    public sealed record Tensor(string Dtype, int[] Shape, float[] Values);

    public sealed record Contents(string Reader, IReadOnlyDictionary<string, string>? Metadata, IReadOnlyDictionary<string, Tensor> Tensors);

    public static Contents Read(string path, bool withTorch = true)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "tools", "read_activations.py");
        var start = new ProcessStartInfo(withTorch ? TorchPython : "python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(path);
        if (!withTorch)
        {
            start.ArgumentList.Add("--no-torch");
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"read_activations.py did not finish within 120 s on {path}");
        }
        Assert.True(process.ExitCode == 0, $"read_activations.py failed on {path}: {stderr.Result}");
        using var json = JsonDocument.Parse(stdout.Result);
        var root = json.RootElement;
        var metadata = root.GetProperty("metadata").ValueKind == JsonValueKind.Null
            ? null
            : root.GetProperty("metadata").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var tensors = root.GetProperty("tensors").EnumerateObject().ToDictionary(p => p.Name, p => new Tensor(
            p.Value.GetProperty("dtype").GetString()!,
            [.. p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32())],
            [.. p.Value.GetProperty("values").EnumerateArray().Select(e => e.GetSingle())]));
        return new Contents(root.GetProperty("reader").GetString()!, metadata, tensors);
    }
}
