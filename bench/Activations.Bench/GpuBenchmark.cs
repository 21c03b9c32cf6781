using System.Diagnostics;
using System.Text.Json;
using Activations.Contracts;
using Activations.ServiceDefaults;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Activations.Worker.Model;
using Activations.Worker.Tokenization;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Activations.Bench;

/// <summary>
/// The engine on a GPU (docs/gpu.md), in two parts that write JSON rows for tools/gpu/report.py to set beside
/// Hugging Face transformers' numbers from the same machine:
/// parity: every hook of the three parity fixtures (Qwen2, Llama, Qwen3), both BOS policies, every pooling, batched
/// and one at a time, computed in float32, fp16 and bf16 and compared with the fixtures' float32 reference;
/// speed: real tokens per second of the DeepSeek-R1-Distill-Qwen-1.5B shape (random weights, layers 0..24, the
/// resid_post of layers 6, 12, 18, 24 pooled) at several batch sizes, on the sample questions and on 512-token prompts.
/// </summary>
static class GpuBenchmark
{
    /// <summary>The largest difference from the float32 reference in one family, dtype, policy, pooling and mode.</summary>
    public sealed record ParityRow(string Family, string Dtype, string Policy, string Pooling, string Mode, string WorstHook, double MaxDifference, double Tolerance)
    {
        public bool Passed => MaxDifference <= Tolerance;
    }

    /// <summary>One timed case: <see cref="Repeats"/> runs of <see cref="BatchSize"/> questions handed to the engine at once.</summary>
    public sealed record SpeedRow(string Engine, string Device, string Dtype, string Case, int BatchSize, int Repeats, int ForwardPasses, long RealTokens, long PaddedTokens, double Seconds)
    {
        public double TokensPerSecond => RealTokens / Seconds;
    }

    /// <summary>
    /// How far each dtype may be from the float32 reference. float32: the CPU parity tests' 1e-4 (TF32 is off in libtorch
    /// by default). fp16 and bf16 round every activation to 11 and 8 significant bits; on an H200, transformers' own
    /// fp16 and bf16 runs of the same fixtures differ from the reference by up to 8.6e-4 and 6.2e-3 (docs/gpu.md), and
    /// the bounds are about five times that. They catch a wrong cast, an overflow or a dtype-specific kernel fault,
    /// not a subtle formula error: float32 parity on the same GPU is the check for those.
    /// </summary>
    public static double Tolerance(ComputeDtype dtype) => dtype switch
    {
        ComputeDtype.Float16 => 4e-3,
        ComputeDtype.BFloat16 => 3e-2,
        _ => 1e-4,
    };

    static readonly (string Family, string Model, string Expected)[] Fixtures =
    [
        ("qwen2", "model", "expected-hooks.json"),
        ("llama", Path.Combine("llama", "model"), Path.Combine("llama", "expected.json")),
        ("qwen3", Path.Combine("qwen3", "model"), Path.Combine("qwen3", "expected.json")),
    ];

    static ComputeDtype ParseDtype(string name) => OptionNames.TryParseDtype(name, out var dtype) && dtype != ComputeDtype.Auto
        ? dtype
        : throw new ArgumentException($"unknown dtype '{name}': use float32, float16 or bfloat16");

    static ComputeDevice ParseDevice(string name) => name switch
    {
        "cuda" => ComputeDevice.Cuda,
        "cpu" => ComputeDevice.Cpu,
        _ => throw new ArgumentException($"unknown device '{name}': use cuda or cpu"),
    };

    /// <summary>Loads the CUDA backend first, so a libtorch that cannot serve TorchSharp fails here with the loader's trace.</summary>
    static void Initialize(ComputeDevice device)
    {
        if (device == ComputeDevice.Cuda)
        {
            torch.InitializeDeviceType(DeviceType.CUDA);
            Console.WriteLine($"CUDA: available, {torch.cuda.device_count()} device(s), cuDNN {(torch.cuda.is_cudnn_available() ? "available" : "not available")}");
        }
    }

    /// <returns>0 when every row is within its tolerance, 1 otherwise</returns>
    public static int Parity(string fixtures, string deviceName, string[] dtypeNames, string jsonPath)
    {
        var device = ParseDevice(deviceName);
        Initialize(device);
        using var loggers = LoggerFactory.Create(l => ConsoleHost.ConfigureLogging(l, LogLevel.Warning));
        var logger = loggers.CreateLogger("Activations.Bench");
        var rows = new List<ParityRow>();
        foreach (var dtype in dtypeNames.Select(ParseDtype))
        {
            foreach (var (family, modelPath, expectedPath) in Fixtures)
            {
                using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtures, expectedPath)));
                var root = expected.RootElement;
                var hooks = root.GetProperty("hooks").EnumerateArray().Select(h => HookPoint.Parse(h.GetString()!)).ToArray();
                var questions = root.GetProperty("questions").EnumerateArray().ToArray();
                var texts = questions.Select(q => q.GetProperty("text").GetString()!).ToArray();
                var folder = ModelFolder.Open(Path.Combine(fixtures, modelPath));
                foreach (var policy in new[] { BosPolicy.NoBos, BosPolicy.Bos })
                {
                    foreach (var pooling in new[] { Pooling.Mean, Pooling.Last, Pooling.MeanNoBos })
                    {
                        var spec = new CaptureSpec { Hooks = hooks, Pooling = pooling, BosPolicy = policy, Device = device, Dtype = dtype };
                        using var engine = ActivationEngine.Load(folder, spec, logger);
                        var computed = engine.Target.ComputeDtype;
                        var batched = engine.Capture(texts, spec, texts.Length);
                        var alone = texts.SelectMany(t => engine.Capture([t], spec, 1)).ToArray();
                        foreach (var (mode, captures) in new[] { ("batched", batched), ("one at a time", alone) })
                        {
                            var (worst, worstHook) = (0.0, "");
                            for (var q = 0; q < texts.Length; q++)
                            {
                                var capture = captures[q];
                                if (!capture.Succeeded)
                                {
                                    throw new InvalidOperationException($"{family} question {q} failed: {capture.Error}");
                                }
                                foreach (var hook in hooks)
                                {
                                    var reference = questions[q].GetProperty("pooled").GetProperty(OptionNames.Of(policy)).GetProperty(hook.Name)
                                        .GetProperty(OptionNames.Of(pooling)).EnumerateArray().Select(e => e.GetSingle()).ToArray();
                                    var difference = MaxDifference(reference, capture.Vectors![hook]);
                                    if (difference > worst)
                                    {
                                        (worst, worstHook) = (difference, hook.Name);
                                    }
                                }
                            }
                            rows.Add(new ParityRow(family, OptionNames.Of(computed), OptionNames.Of(policy), OptionNames.Of(pooling), mode, worstHook, worst, Tolerance(computed)));
                        }
                    }
                }
                var mine = rows.Where(r => r.Family == family && r.Dtype == OptionNames.Of(dtype)).ToArray();
                if (mine.Length > 0)
                {
                    var worst = mine.MaxBy(r => r.MaxDifference)!;
                    Console.WriteLine($"{family} {worst.Dtype}: largest difference {worst.MaxDifference:E2} ({worst.WorstHook}, {worst.Policy}, {worst.Pooling}, {worst.Mode}); tolerance {worst.Tolerance:E0}: {(mine.All(r => r.Passed) ? "pass" : "FAIL")}");
                }
            }
        }
        AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(rows, Json));
        return rows.All(r => r.Passed) ? 0 : 1;
    }

    static double MaxDifference(float[] reference, float[] actual)
    {
        if (reference.Length != actual.Length)
        {
            return double.PositiveInfinity;
        }
        var worst = 0.0;
        for (var i = 0; i < reference.Length; i++)
        {
            // NaN counts as infinitely far.
            var difference = Math.Abs((double)reference[i] - actual[i]);
            worst = double.IsNaN(difference) ? double.PositiveInfinity : Math.Max(worst, difference);
        }
        return worst;
    }

    /// <summary>
    /// Times the engine on the 1.5B shape. Writes the token ids of both cases to <paramref name="inputsPath"/> first,
    /// so transformers runs on exactly the same inputs (tools/gpu/hf_speed.py).
    /// </summary>
    public static void Speed(string deviceName, string[] dtypeNames, int[] batches, string[] cases, string jsonPath, string inputsPath, double minimumSeconds)
    {
        var device = ParseDevice(deviceName);
        var tokenizerFolder = SampleQuestions.TokenizerFolder();
        using var tokenizer = QuestionTokenizer.Load(Path.Combine(tokenizerFolder, "tokenizer.json"), Path.Combine(tokenizerFolder, "tokenizer_config.json"));
        var inputs = cases.ToDictionary(c => c, c => BenchCases.Build(c == "short" ? "short" : "prompts-512", tokenizer).Select(q => tokenizer.Encode(q, BosPolicy.NoBos)).ToArray());
        AtomicFile.WriteAllText(inputsPath, JsonSerializer.Serialize(inputs));
        foreach (var (name, ids) in inputs)
        {
            Console.WriteLine($"case {name}: {ids.Length} distinct inputs of {ids.Min(i => i.Length)} to {ids.Max(i => i.Length)} tokens");
        }
        Initialize(device);
        using var loggers = LoggerFactory.Create(l => ConsoleHost.ConfigureLogging(l, LogLevel.Warning));
        var logger = loggers.CreateLogger("Activations.Bench");
        var config = DecoderConfig.DeepSeekR1DistillQwen1_5B;
        var layers = HookSelection.DefaultLayers;
        var rows = new List<SpeedRow>();
        foreach (var dtype in dtypeNames.Select(ParseDtype))
        {
            var target = ComputeTarget.Resolve(device, dtype, logger);
            var build = Stopwatch.StartNew();
            // Every question handed over at once may share a forward pass: the token budget does not cut the batch.
            var (engine, spec) = LeanEngine.Build(config, target, layers, tokenizer, tokenBudget: 1 << 24);
            using var owned = engine;
            Console.WriteLine($"built the {target.DtypeName} model (layers 0..{layers.Max()}, {engine.WeightBytes / 1e9:F2} GB) on {target.DeviceName} in {build.Elapsed.TotalSeconds:F1} s");
            foreach (var (name, distinct) in inputs)
            {
                foreach (var batch in batches)
                {
                    var questions = Enumerable.Range(0, batch).Select(i => distinct[i % distinct.Length]).ToArray();
                    engine.CaptureTokenized(questions, spec, batch); // warm-up: kernels chosen for these shapes
                    var (passes, padded, real) = (engine.ForwardPasses, engine.PaddedTokens, engine.RealTokens);
                    var clock = Stopwatch.StartNew();
                    var repeats = 0;
                    while (repeats < 2 || (clock.Elapsed.TotalSeconds < minimumSeconds && repeats < 20))
                    {
                        var captured = engine.CaptureTokenized(questions, spec, batch);
                        if (captured.FirstOrDefault(c => !c.Succeeded) is { } failed)
                        {
                            throw new InvalidOperationException($"a question failed: {failed.Error}");
                        }
                        repeats++;
                    }
                    var row = new SpeedRow("activations", target.DeviceName, target.DtypeName, name, batch, repeats, (int)(engine.ForwardPasses - passes),
                        engine.RealTokens - real, engine.PaddedTokens - padded, clock.Elapsed.TotalSeconds);
                    Console.WriteLine($"  {row.Dtype} {name} batch {batch}: {row.TokensPerSecond:F0} real tokens/s ({row.Repeats} runs, {row.ForwardPasses / row.Repeats} forward passes each, padded/real {(double)row.PaddedTokens / row.RealTokens:F2})");
                    rows.Add(row);
                }
            }
        }
        AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(rows, Json));
    }

    /// <summary>
    /// Where a forward pass's time goes: each step of one decoder layer of the 1.5B shape, timed alone on the device
    /// (synchronised before and after), for each [batch, seq] shape; and the whole layer.
    /// </summary>
    public static void Ops(string deviceName, string dtypeName, (int Batch, int Length)[] shapes)
    {
        var device = ParseDevice(deviceName);
        Initialize(device);
        using var loggers = LoggerFactory.Create(l => ConsoleHost.ConfigureLogging(l, LogLevel.Warning));
        var target = ComputeTarget.Resolve(device, ParseDtype(dtypeName), loggers.CreateLogger("Activations.Bench"));
        var (on, dtype) = (target.Device, target.Dtype);
        var config = DecoderConfig.DeepSeekR1DistillQwen1_5B;
        using var model = DecoderModel.Build(config, new RandomWeightSource(dtype, on), 1);
        var (hidden, heads, kvHeads, headDim, intermediate) = (config.HiddenSize, config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim, config.IntermediateSize);
        using var qkvWeight = torch.randn([(heads + 2 * kvHeads) * headDim, hidden], dtype, on) * 0.02;
        using var gateUpWeight = torch.randn([2 * intermediate, hidden], dtype, on) * 0.02;
        using var downWeight = torch.randn([hidden, intermediate], dtype, on) * 0.02;
        void Time(string what, (int Batch, int Length) shape, Func<Tensor?> step)
        {
            for (var i = 0; i < 3; i++)
            {
                using var warm = torch.NewDisposeScope();
                step();
            }
            if (device == ComputeDevice.Cuda)
            {
                torch.cuda.synchronize();
            }
            var clock = Stopwatch.StartNew();
            const int repeats = 20;
            for (var i = 0; i < repeats; i++)
            {
                using var scope = torch.NewDisposeScope();
                step();
            }
            if (device == ComputeDevice.Cuda)
            {
                torch.cuda.synchronize();
            }
            Console.WriteLine($"  [{shape.Batch} x {shape.Length}] {what}: {clock.Elapsed.TotalMilliseconds / repeats:F3} ms");
        }
        foreach (var shape in shapes)
        {
            using var scope = torch.NewDisposeScope();
            var (batch, length) = shape;
            var rows = (long)batch * length;
            var x = torch.randn([batch, length, hidden], dtype, on);
            var x2 = x.reshape(rows, hidden);
            var ids = torch.randint(0, 1000, [batch, length], ScalarType.Int64, on);
            var q = torch.randn([batch, heads, length, headDim], dtype, on);
            var k = torch.randn([batch, kvHeads, length, headDim], dtype, on);
            var kExpanded = k.unsqueeze(2).expand(batch, kvHeads, heads / kvHeads, length, headDim).reshape(batch, heads, length, headDim);
            var gateUp = F.linear(x2, gateUpWeight);
            var activated = F.silu(gateUp.narrow(-1, 0, intermediate)).mul_(gateUp.narrow(-1, intermediate, intermediate));
            var angles = torch.randn([length, headDim], dtype, on);
            Console.WriteLine($"shape [{batch} x {length}] = {rows} tokens, {target.DtypeName}");
            Time("whole layer 0 (embedding, norms, attention, MLP, resid_post pooled)", shape, () =>
            {
                using var sink = new PoolingHookSink([HookPoint.ResidPost(0)], [.. Enumerable.Repeat((long)length, batch)], Pooling.Mean, leadingBos: false);
                model.Forward(ids, sink);
                return null;
            });
            Time("linear qkv [tokens, 1536] x [2048, 1536]^T", shape, () => F.linear(x2, qkvWeight));
            Time("rms norm in float32", shape, () =>
            {
                var x32 = x.to(ScalarType.Float32);
                return (x32 * x32.square().mean([-1], keepdim: true).add_(1e-6).rsqrt_()).to(dtype);
            });
            Time("rope on q", shape, () => RotaryEmbedding.Apply(q, angles.cos(), angles.sin()));
            Time("repeat_kv k (expand + reshape)", shape, () => k.unsqueeze(2).expand(batch, kvHeads, heads / kvHeads, length, headDim).reshape(batch, heads, length, headDim));
            Time("repeat_interleave k", shape, () => k.repeat_interleave(heads / kvHeads, 1));
            Time("sdpa causal", shape, () => F.scaled_dot_product_attention(q, kExpanded, kExpanded, is_casual: true));
            Time("linear o [tokens, 1536] x [1536, 1536]^T", shape, () => F.linear(x2, qkvWeight.narrow(0, 0, hidden)));
            Time("linear gate_up [tokens, 1536] x [17920, 1536]^T", shape, () => F.linear(x2, gateUpWeight));
            Time("silu(gate) * up", shape, () => F.silu(gateUp.narrow(-1, 0, intermediate)).mul_(gateUp.narrow(-1, intermediate, intermediate)));
            Time("linear down [tokens, 8960] x [1536, 8960]^T", shape, () => F.linear(activated, downWeight));
            Time("pool one hook (float32 mean over real tokens)", shape, () =>
                ResidualPooler.Pool(x, torch.full([batch], length, ScalarType.Int64, on), Pooling.Mean, leadingBos: false));
        }
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
}
