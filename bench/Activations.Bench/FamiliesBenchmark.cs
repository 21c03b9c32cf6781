using System.Diagnostics;
using System.Text.Json;
using Activations.Contracts;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Activations.Worker.Model;
using Activations.Worker.Tokenization;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Bench;

/// <summary>
/// The lean engine (length-sorted batches, stopping after layer 24, no lm_head) on random weights of the bigger
/// distills' real shapes (Qwen2, Llama, Qwen3), in bf16 on the CPU, each model in a child process of its own.
/// </summary>
static class FamiliesBenchmark
{
    sealed record Row(string Dtype, string Mode, int Batch, double QuestionsPerSecond, double TokensPerSecond, double WeightMegabytes, double PeakMegabytes, string Model = "qwen2-1.5b");

    /// <summary>The shapes a case can use: the study's 1.5B and the bigger distills' families.</summary>
    static readonly Dictionary<string, (DecoderConfig Config, string Name)> Models = new()
    {
        ["qwen2-1.5b"] = (DecoderConfig.DeepSeekR1DistillQwen1_5B, "DeepSeek-R1-Distill-Qwen-1.5B (Qwen2)"),
        ["llama-8b"] = (DecoderConfig.DeepSeekR1DistillLlama8B, "DeepSeek-R1-Distill-Llama-8B (Llama, llama3 RoPE)"),
        ["qwen3-8b"] = (DecoderConfig.DeepSeekR1_0528Qwen3_8B, "DeepSeek-R1-0528-Qwen3-8B (Qwen3, q/k norms, yarn RoPE)"),
    };

    /// <summary>
    /// The bigger distills' shapes (random weights, the layers up to 24), lean engine in bf16 on the CPU, each model in
    /// a child process of its own; the 1.5B beside them for scale.
    /// </summary>
    public static void RunFamilies(int repeat, int[] batchSizes, string[] models)
    {
        var questions = Questions(repeat);
        var rows = new List<Row>();
        foreach (var model in models)
        {
            rows.AddRange(BenchChild.Run<Row>(["engine-families-case", "bf16", string.Join(",", batchSizes), repeat.ToString(), model]));
        }
        Console.WriteLine();
        Console.WriteLine($"{questions.Length} sample questions, random weights of each model's real shapes, bf16, CPU, {torch.get_num_threads()} threads, layers 6,12,18,24 (the model truncated after layer 24); peak = the case's peak RSS above its RSS before the model was built");
        Console.WriteLine("| model | batch | questions/s | tokens/s | weights MB | peak MB above baseline | peak / weights |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows)
        {
            Console.WriteLine($"| {Models[row.Model].Name} | {row.Batch} | {row.QuestionsPerSecond:F2} | {row.TokensPerSecond:F0} | {row.WeightMegabytes:F0} | {row.PeakMegabytes:F0} | {row.PeakMegabytes / row.WeightMegabytes:F2} |");
        }
    }

    /// <summary>The child: one case, printing one JSON row per measurement.</summary>
    public static void RunCase(string dtypeName, int[] batchSizes, int repeat, string model)
    {
        var dtype = dtypeName == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
        var questions = Questions(repeat);
        var tokenizerFolder = SampleQuestions.TokenizerFolder();
        using var tokenizer = QuestionTokenizer.Load(Path.Combine(tokenizerFolder, "tokenizer.json"), Path.Combine(tokenizerFolder, "tokenizer_config.json"));
        var tokens = questions.Sum(q => tokenizer.Encode(q, BosPolicy.NoBos).Length);
        var config = Models[model].Config;
        var layers = HookSelection.DefaultLayers;
        var rows = Lean(config, dtype, tokenizer, questions, tokens, layers, batchSizes).Select(r => r with { Model = model }).ToList();
        foreach (var row in rows)
        {
            BenchChild.Report(row);
        }
    }

    static string[] Questions(int repeat) => Enumerable.Repeat(SampleQuestions.Load(), repeat).SelectMany(q => q).ToArray();

    static IEnumerable<Row> Lean(DecoderConfig config, ScalarType dtype, QuestionTokenizer tokenizer, string[] questions, int tokens, IReadOnlyList<int> layers, int[] batchSizes)
    {
        GC.Collect();
        ProcessMemory.ResetPeak();
        var baseline = ProcessMemory.ResidentBytes();
        var (engine, settings) = LeanEngine.Build(config, new ComputeTarget(CPU, dtype), layers, tokenizer);
        using var owned = engine;
        var results = new List<Row>();
        foreach (var batch in batchSizes)
        {
            engine.Capture(questions.Take(batch).ToArray(), settings, batch);
            var clock = Stopwatch.StartNew();
            var captured = engine.Capture(questions, settings, batch);
            var seconds = clock.Elapsed.TotalSeconds;
            if (captured.Any(c => !c.Succeeded))
            {
                throw new InvalidOperationException("a question failed");
            }
            var row = new Row(Name(dtype), "lean", batch, questions.Length / seconds, tokens / seconds, engine.WeightBytes / 1e6, 0);
            Console.WriteLine($"  {row.Dtype} lean batch {batch}: {row.QuestionsPerSecond:F2} q/s");
            results.Add(row);
        }
        var peak = (ProcessMemory.PeakResidentBytes() - baseline) / 1e6;
        return results.Select(r => r with { PeakMegabytes = peak });
    }

    static string Name(ScalarType dtype) => dtype == ScalarType.BFloat16 ? "bf16" : "float32";
}
