using System.Text.Json;
using Activations.Contracts;
using Activations.Coordinator.Assembly;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Microsoft.Extensions.Logging.Abstractions;

namespace Activations.Coordinator.Tests;

/// <summary>Checks written activation files against the engine run in this process, one question at a time.</summary>
public static class EngineReference
{
    public static string TinyModel => Path.Combine(AppContext.BaseDirectory, "samples", "tiny-qwen2");

    public static string SampleData(string name) => Path.Combine(AppContext.BaseDirectory, "samples", "data", name);

    /// <summary>Every row of every layer file equals the engine's vector for that row's pair (1e-5), in the manifest's order.</summary>
    public static Manifest AssertFilesMatchEngine(string output, string responsesJsonl, string model, IReadOnlyList<int> layers)
        => AssertFilesMatchEngine(output, responsesJsonl, model, [.. layers.Select(HookPoint.ResidPost)]);

    /// <summary>
    /// Every row of every hook's .pt file equals the engine's vector for that row's pair (1e-5), in the manifest's
    /// order, and the manifest lists exactly these hooks.
    /// </summary>
    public static Manifest AssertFilesMatchEngine(string output, string responsesJsonl, string model, IReadOnlyList<HookPoint> hooks, Pooling pooling = Pooling.Mean, BosPolicy policy = BosPolicy.NoBos)
    {
        var manifest = ManifestFile.Read(Path.Combine(output, ManifestFile.FileName));
        Assert.Equal(hooks.Order().Select(h => h.Name), manifest.Hooks.Select(h => h.Name));
        var questions = File.ReadLines(responsesJsonl)
            .Where(l => l.Trim().Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("variant").GetString() == manifest.Variant)
            .ToDictionary(e => e.GetProperty("pair_id").GetString()!, e => e.GetProperty("question").GetString()!);
        var spec = new CaptureSpec { Hooks = [.. hooks.Order()], Pooling = pooling, BosPolicy = policy, Device = ComputeDevice.Cpu, Dtype = ComputeDtype.Float32 };
        using var engine = ActivationEngine.Load(ModelFolder.Open(model), spec, NullLogger.Instance);
        var faithful = engine.Capture(manifest.PairIds.Faithful.Select(p => questions[p]).ToList(), spec, 1);
        var unfaithful = engine.Capture(manifest.PairIds.Unfaithful.Select(p => questions[p]).ToList(), spec, 1);
        foreach (var hook in hooks)
        {
            var (f, u) = ActivationFileWriter.ReadLayer(Path.Combine(output, ActivationFileWriter.FileNameFor(hook)));
            using (f)
            using (u)
            {
                var width = faithful[0].Vectors![hook].Length;
                Assert.Equal([manifest.PairIds.Faithful.Count, width], f.shape.Select(d => (int)d));
                Assert.Equal([manifest.PairIds.Unfaithful.Count, width], u.shape.Select(d => (int)d));
                for (var row = 0; row < faithful.Count; row++)
                {
                    AssertClose(faithful[row].Vectors![hook], f[row].data<float>().ToArray(), $"{hook} faithful row {row}");
                }
                for (var row = 0; row < unfaithful.Count; row++)
                {
                    AssertClose(unfaithful[row].Vectors![hook], u[row].data<float>().ToArray(), $"{hook} unfaithful row {row}");
                }
            }
        }
        return manifest;
    }

    static void AssertClose(float[] expected, float[] actual, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5, $"{where}, element {i}: {expected[i]} vs {actual[i]}");
        }
    }
}
