using System.Diagnostics;
using System.Text.Json;
using Activations.Contracts;
using Activations.ServiceDefaults;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Activations.Worker.Model;
using Activations.Worker.Tokenization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Bench;

/// <summary>
/// The engine on a random model with the real 1.5B shapes, on the CPU: each length case (<see cref="BenchCases"/>)
/// batched (micro-batches under the token budget) and one question at a time, in float32 and with bf16 asked for,
/// side by side in one run. Optionally the seed's way (one question at a time, all 28 layers and lm_head, every
/// residual kept). Prints the processor, whether bf16 is native, and ratios.
/// </summary>
static class EngineBenchmark
{
    sealed record Row(string Asked, string Computed, string Case, string Mode, int Questions, long RealTokens, long PaddedTokens,
        double Seconds, double CpuSeconds, int Threads, double WeightMegabytes, double PeakMegabytes)
    {
        public double QuestionsPerSecond => Questions / Seconds;

        public double TokensPerSecond => RealTokens / Seconds;

        /// <summary>Real tokens per second had every thread had a core to itself: on a shared machine, steadier than the wall clock.</summary>
        public double TokensPerCpuSecond => RealTokens / (CpuSeconds / Threads);

        /// <summary>The share of <see cref="Threads"/> cores the case got: 1 on a quiet machine.</summary>
        public double CpuShare => CpuSeconds / (Seconds * Threads);
    }

    /// <summary>A dtype configuration: what is asked for, and whether native bf16 is turned off (<see cref="CpuFeatures.Bf16Variable"/>).</summary>
    static (ComputeDtype Dtype, string? Bf16Override) Config(string name) => name switch
    {
        "float32" => (ComputeDtype.Float32, null),
        "bf16" => (ComputeDtype.BFloat16, null),
        "bf16-not-native" => (ComputeDtype.BFloat16, "off"),
        _ => throw new ArgumentException($"unknown dtype '{name}': use float32, bf16 or bf16-not-native"),
    };

    /// <summary>Runs each dtype configuration in a child process of its own, so each peak-memory reading is clean.</summary>
    /// <param name="notNativeCases">the cases of the bf16-not-native configuration (its work is float32's, so fewer suffice)</param>
    /// <param name="aloneCases">the cases also run one question at a time</param>
    public static void Run(string[] dtypes, string[] cases, string[] notNativeCases, string[] aloneCases, int batchSize, bool seedStyle)
    {
        var cpu = CpuFeatures.Current;
        Console.WriteLine($"Processor: {cpu.Processor}; bf16 native: {(cpu.NativeBf16 ? "yes" : "no")} ({cpu.Basis}); {Environment.ProcessorCount} cores, {torch.get_num_threads()} libtorch threads");
        var rows = new List<Row>();
        foreach (var dtype in dtypes)
        {
            var dtypeCases = dtype == "bf16-not-native" ? notNativeCases : cases;
            rows.AddRange(BenchChild.Run<Row>(["engine-case", dtype, string.Join(",", dtypeCases), string.Join(",", aloneCases), batchSize.ToString(), seedStyle ? "seed-style" : "lean"],
                environment: Config(dtype).Bf16Override is { } bf16 ? new Dictionary<string, string> { [CpuFeatures.Bf16Variable] = bf16 } : null));
        }
        Print(rows, cpu, batchSize);
    }

    /// <summary>The child: one dtype configuration, every case, printing one JSON row per measurement.</summary>
    public static void RunCase(string dtypeName, string[] cases, string[] aloneCases, int batchSize, bool seedStyle)
    {
        using var loggers = LoggerFactory.Create(l => ConsoleHost.ConfigureLogging(l, LogLevel.Warning));
        var asked = Config(dtypeName).Dtype;
        // The engine's own resolution: a bf16 request on a CPU without native bf16 computes in float32, saying so once.
        var target = ComputeTarget.Resolve(ComputeDevice.Cpu, asked, loggers.CreateLogger("Activations.Bench"));
        var tokenizerFolder = SampleQuestions.TokenizerFolder();
        using var tokenizer = QuestionTokenizer.Load(Path.Combine(tokenizerFolder, "tokenizer.json"), Path.Combine(tokenizerFolder, "tokenizer_config.json"));
        var inputs = cases.ToDictionary(c => c, c => BenchCases.Build(c, tokenizer));
        var config = DecoderConfig.DeepSeekR1DistillQwen1_5B;
        var layers = HookSelection.DefaultLayers;
        var rows = new List<Row>();
        if (seedStyle)
        {
            rows.Add(SeedStyle(config, target.Dtype, tokenizer, inputs.GetValueOrDefault("short") ?? BenchCases.Build("short", tokenizer), layers) with { Asked = dtypeName });
        }
        rows.AddRange(Lean(config, target.Dtype, tokenizer, inputs, aloneCases, layers, batchSize).Select(r => r with { Asked = dtypeName }));
        foreach (var row in rows)
        {
            BenchChild.Report(row);
        }
    }

    static Row SeedStyle(DecoderConfig config, ScalarType dtype, QuestionTokenizer tokenizer, string[] questions, IReadOnlyList<int> layers)
    {
        GC.Collect();
        ProcessMemory.ResetPeak();
        var baseline = ProcessMemory.ResidentBytes();
        var weights = new RandomWeightSource(dtype, CPU);
        var build = Stopwatch.StartNew();
        using var model = DecoderModel.Build(config, weights, config.NumHiddenLayers, includeHead: true);
        Console.WriteLine($"  built the {Name(dtype)} seed-style model in {build.Elapsed.TotalSeconds:F1} s");
        var tokens = questions.Sum(q => (long)tokenizer.Encode(q, BosPolicy.NoBos).Length);
        void RunOne(string question)
        {
            using var scope = torch.NewDisposeScope();
            var ids = tokenizer.Encode(question, BosPolicy.NoBos);
            var cache = new List<Tensor>();
            try
            {
                using var logits = model.Forward(torch.tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]),
                    (_, residual) => cache.Add(residual.clone().DetachFromDisposeScope()), computeLogits: true);
                foreach (var layer in layers)
                {
                    _ = HostCopy.ToArray<float>(cache[layer].to(ScalarType.Float32).mean([1]));
                }
            }
            finally
            {
                cache.ForEach(t => t.Dispose());
            }
        }
        RunOne(questions[0]);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        foreach (var question in questions)
        {
            RunOne(question);
        }
        var row = new Row("", Name(dtype), "short", "seed-style", questions.Length, tokens, tokens, clock.Elapsed.TotalSeconds,
            (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds, torch.get_num_threads(), weights.BytesLoaded / 1e6, (ProcessMemory.PeakResidentBytes() - baseline) / 1e6);
        Console.WriteLine($"  {row.Computed} seed-style: {row.QuestionsPerSecond:F2} q/s");
        return row;
    }

    /// <summary>
    /// One lean model (stopping after layer 24, no lm_head) for every case, shortest inputs first; the peak is reset
    /// before each case and read above the resident size before the model was built, so it includes the weights.
    /// </summary>
    static IEnumerable<Row> Lean(DecoderConfig config, ScalarType dtype, QuestionTokenizer tokenizer, Dictionary<string, string[]> inputs, string[] aloneCases, IReadOnlyList<int> layers, int batchSize)
    {
        GC.Collect();
        var baseline = ProcessMemory.ResidentBytes();
        var build = Stopwatch.StartNew();
        // The token budget is the device's default.
        var (engine, settings) = LeanEngine.Build(config, new ComputeTarget(CPU, dtype), layers, tokenizer);
        using var owned = engine;
        Console.WriteLine($"  built the {Name(dtype)} lean model in {build.Elapsed.TotalSeconds:F1} s; token budget {engine.TokenBudget}");
        engine.Capture(inputs.Values.First().Take(4).ToArray(), settings, batchSize);
        var results = new List<Row>();
        foreach (var (name, questions) in inputs)
        {
            // A single prompt runs alone either way: measured once.
            var modes = questions.Length == 1 ? [("alone", 1)] : aloneCases.Contains(name) ? new[] { ("batched", batchSize), ("one at a time", 1) } : [("batched", batchSize)];
            foreach (var (mode, batch) in modes)
            {
                GC.Collect();
                ProcessMemory.ResetPeak();
                var (padded, real) = (engine.PaddedTokens, engine.RealTokens);
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                var captured = engine.Capture(questions, settings, batch);
                var seconds = clock.Elapsed.TotalSeconds;
                var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
                if (captured.FirstOrDefault(c => !c.Succeeded) is { } failed)
                {
                    throw new InvalidOperationException($"a question failed: {failed.Error}");
                }
                var row = new Row("", Name(dtype), name, mode, questions.Length, engine.RealTokens - real, engine.PaddedTokens - padded, seconds,
                    cpuSeconds, torch.get_num_threads(), engine.WeightBytes / 1e6, (ProcessMemory.PeakResidentBytes() - baseline) / 1e6);
                Console.WriteLine($"  {row.Computed} {name} {mode}: {row.QuestionsPerSecond:F2} q/s, {row.TokensPerSecond:F0} tokens/s ({row.TokensPerCpuSecond:F0} per CPU-second per thread, CPU share {row.CpuShare:F2}), padded/real {(double)row.PaddedTokens / row.RealTokens:F2}, peak/weights {row.PeakMegabytes / row.WeightMegabytes:F2}");
                results.Add(row);
            }
        }
        return results;
    }

    static string Name(ScalarType dtype) => dtype == ScalarType.BFloat16 ? "bf16" : "float32";

    static void Print(List<Row> rows, CpuFeatures cpu, int batchSize)
    {
        Console.WriteLine();
        Console.WriteLine($"{cpu.Processor}, bf16 native: {(cpu.NativeBf16 ? "yes" : "no")}; random DeepSeek-R1-Distill-Qwen-1.5B weights, CPU, {torch.get_num_threads()} threads, layers 6,12,18,24, batch size {batchSize} under the default token budget");
        Console.WriteLine("peak = the case's peak RSS above the RSS before the model was built (so it includes the weights)");
        Console.WriteLine("'tokens/s, CPU time': real tokens over (process CPU seconds / threads), the rate had each thread a core to itself; 'CPU share': the share of the threads' cores the case got (1 on a quiet machine); the 'vs' columns use it");
        Console.WriteLine("| dtype asked | computed in | case | mode | questions | real tokens | questions/s | real tokens/s | real tokens/s, CPU time | CPU share | padded / real | peak / weights | vs one at a time | vs float32 |");
        Console.WriteLine("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows)
        {
            var alone = rows.FirstOrDefault(r => r.Asked == row.Asked && r.Case == row.Case && r.Mode == "one at a time");
            var float32 = rows.FirstOrDefault(r => r.Asked == "float32" && r.Case == row.Case && r.Mode == row.Mode);
            // Same questions in both, so the ratio of CPU-time token rates is the ratio of questions per second on a quiet machine.
            var versusAlone = row.Mode == "batched" && alone is not null ? $"{row.TokensPerCpuSecond / alone.TokensPerCpuSecond:F2}x" : "";
            var versusFloat32 = row.Asked != "float32" && float32 is not null ? $"{row.TokensPerCpuSecond / float32.TokensPerCpuSecond:F2}x" : "";
            Console.WriteLine($"| {row.Asked} | {row.Computed} | {row.Case} | {row.Mode} | {row.Questions} | {row.RealTokens} | {row.QuestionsPerSecond:F2} | {row.TokensPerSecond:F0} | {row.TokensPerCpuSecond:F0} | {row.CpuShare:F2} | {(double)row.PaddedTokens / row.RealTokens:F2} | {row.PeakMegabytes / row.WeightMegabytes:F2} | {versusAlone} | {versusFloat32} |");
        }
        foreach (var asked in rows.Select(r => r.Asked).Distinct())
        {
            var shortRow = rows.FirstOrDefault(r => r.Asked == asked && r.Case == "short" && r.Mode == "batched");
            var mixed = rows.FirstOrDefault(r => r.Asked == asked && r.Case == "mixed" && r.Mode == "batched");
            if (shortRow is not null && mixed is not null)
            {
                Console.WriteLine($"{asked}: mixed set real tokens/s over the short set's: {mixed.TokensPerSecond / shortRow.TokensPerSecond:F2} by the wall clock, {mixed.TokensPerCpuSecond / shortRow.TokensPerCpuSecond:F2} by CPU time");
            }
        }
    }
}
