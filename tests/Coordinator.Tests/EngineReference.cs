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
    {
        var manifest = ManifestFile.Read(Path.Combine(output, ManifestFile.FileName));
        var questions = File.ReadLines(responsesJsonl)
            .Where(l => l.Trim().Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("variant").GetString() == manifest.Variant)
            .ToDictionary(e => e.GetProperty("pair_id").GetString()!, e => e.GetProperty("question").GetString()!);
        var settings = new CaptureSettings { Model = model, Layers = layers, Device = ComputeDevice.Cpu };
        using var engine = ActivationEngine.Load(ModelFolder.Open(model), settings, NullLogger.Instance);
        var faithful = engine.Capture(manifest.PairIds.Faithful.Select(p => questions[p]).ToList(), settings, 1);
        var unfaithful = engine.Capture(manifest.PairIds.Unfaithful.Select(p => questions[p]).ToList(), settings, 1);
        for (var slot = 0; slot < layers.Count; slot++)
        {
            var (f, u) = ActivationFileWriter.ReadLayer(Path.Combine(output, ActivationFileWriter.FileNameFor(layers[slot])));
            using (f)
            using (u)
            {
                Assert.Equal([manifest.PairIds.Faithful.Count, engine.Config.HiddenSize], f.shape.Select(d => (int)d));
                Assert.Equal([manifest.PairIds.Unfaithful.Count, engine.Config.HiddenSize], u.shape.Select(d => (int)d));
                for (var row = 0; row < faithful.Count; row++)
                {
                    AssertClose(faithful[row].Vectors![slot], f[row].data<float>().ToArray(), $"layer {layers[slot]} faithful row {row}");
                }
                for (var row = 0; row < unfaithful.Count; row++)
                {
                    AssertClose(unfaithful[row].Vectors![slot], u[row].data<float>().ToArray(), $"layer {layers[slot]} unfaithful row {row}");
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
