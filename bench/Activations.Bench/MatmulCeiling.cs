using System.Diagnostics;
using Activations.Contracts;
using Activations.Worker.Capture;
using Activations.Worker.Model;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Activations.Bench;

/// <summary>
/// What the CPU's matrix multiplies alone allow, in real tokens per second: one forward pass's linear layers (the
/// engine's fused qkv, o, fused gate/up and down, of the 1.5B model's shapes, through the deepest captured layer),
/// nothing else, on M rows at once. Batching cannot beat the ceiling at large M, and one question at a time of T
/// tokens runs at most at the ceiling at M = T; the ratio of the two bounds what batching can gain on this CPU.
/// </summary>
static class MatmulCeiling
{
    /// <summary>Distinct layers' weights cycled through, so the weights are read from memory as in a real pass, never from cache.</summary>
    const int DistinctLayers = 4;

    public static void Run(string[] dtypes, int[] rows, double seconds)
    {
        var cpu = CpuFeatures.Current;
        var config = DecoderConfig.DeepSeekR1DistillQwen1_5B;
        var layers = HookSelection.DefaultLayers.Max() + 1;
        Console.WriteLine($"{cpu.Processor}, bf16 native: {(cpu.NativeBf16 ? "yes" : "no")}; {torch.get_num_threads()} libtorch threads; the linear layers of {layers} DeepSeek-R1-Distill-Qwen-1.5B layers per pass, {seconds:0.#} s per cell");
        Console.WriteLine($"| dtype | {string.Join(" | ", rows.Select(m => $"M = {m}"))} | best / M = {rows.Min()} |");
        Console.WriteLine($"|---|{string.Concat(rows.Select(_ => "---:|"))}---:|");
        foreach (var name in dtypes)
        {
            var dtype = name == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
            var rates = rows.Select(m => TokensPerSecond(config, dtype, m, layers, seconds)).ToArray();
            Console.WriteLine($"| {name} | {string.Join(" | ", rates.Select(r => r.ToString("F0")))} | {rates.Max() / rates[Array.IndexOf(rows, rows.Min())]:F2}x |");
        }
        Console.WriteLine("real tokens per second; the last column is the most batching can gain over one question of that many tokens at a time");
    }

    static double TokensPerSecond(DecoderConfig config, ScalarType dtype, int rows, int layers, double seconds)
    {
        using var scope = NewDisposeScope();
        var hidden = config.HiddenSize;
        var qkv = config.HiddenSize + 2 * config.NumKeyValueHeads * config.HeadDim;
        var weights = Enumerable.Range(0, DistinctLayers).Select(_ => (
            Qkv: randn(qkv, hidden, dtype: dtype) * 0.02,
            O: randn(hidden, hidden, dtype: dtype) * 0.02,
            GateUp: randn(2 * config.IntermediateSize, hidden, dtype: dtype) * 0.02,
            Down: randn(hidden, config.IntermediateSize, dtype: dtype) * 0.02)).ToArray();
        var x = randn(rows, hidden, dtype: dtype);
        // down_proj's input as the engine gives it: its own contiguous [rows, intermediate] (silu(gate) * up), not a view.
        var activated = randn(rows, config.IntermediateSize, dtype: dtype);
        void Pass()
        {
            for (var layer = 0; layer < layers; layer++)
            {
                using var step = NewDisposeScope();
                var w = weights[layer % DistinctLayers];
                F.linear(x, w.Qkv);
                F.linear(x, w.O);
                F.linear(x, w.GateUp);
                F.linear(activated, w.Down);
            }
        }
        Pass();
        var clock = Stopwatch.StartNew();
        var passes = 0;
        while (clock.Elapsed.TotalSeconds < seconds || passes < 2)
        {
            Pass();
            passes++;
        }
        return rows * passes / clock.Elapsed.TotalSeconds;
    }
}
