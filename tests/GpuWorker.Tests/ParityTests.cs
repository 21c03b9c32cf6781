using System.Text.Json;
using Activations.Contracts;
using Activations.GpuWorker.Capture;

namespace Activations.GpuWorker.Tests;

/// <summary>The engine against the independent reference implementation's float32 vectors (atol 1e-4).</summary>
public class ParityTests
{
    const double Tolerance = 1e-4;

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var policy in new[] { "no-bos", "bos" })
        {
            foreach (var pooling in new[] { "mean", "last", "mean-no-bos" })
            {
                data.Add(policy, pooling);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Pooled_vectors_match_the_reference_one_question_at_a_time_and_in_one_batch(string policyName, string poolingName)
    {
        Assert.True(OptionNames.TryParseBosPolicy(policyName, out var policy));
        Assert.True(OptionNames.TryParsePooling(poolingName, out var pooling));
        using var engine = Fixtures.Engine(pooling, policy);

        var oneByOne = Fixtures.Questions.SelectMany(q => engine.Capture([q], batchSize: 1)).ToArray();
        var batched = engine.Capture(Fixtures.Questions, batchSize: Fixtures.Questions.Length);

        var questions = Fixtures.Expected.RootElement.GetProperty("questions");
        var worst = 0.0;
        for (var q = 0; q < Fixtures.Questions.Length; q++)
        {
            var expected = questions[q].GetProperty("pooled").GetProperty(policyName);
            Assert.Equal(questions[q].GetProperty("input").GetProperty(policyName).GetArrayLength(), oneByOne[q].TokenCount);
            for (var slot = 0; slot < Fixtures.Layers.Length; slot++)
            {
                var reference = expected.GetProperty(Fixtures.Layers[slot].ToString()).GetProperty(poolingName).EnumerateArray().Select(e => e.GetSingle()).ToArray();
                worst = Math.Max(worst, MaxDifference(reference, oneByOne[q].Vectors![slot]));
                worst = Math.Max(worst, MaxDifference(reference, batched[q].Vectors![slot]));
            }
        }
        Assert.True(worst <= Tolerance, $"largest difference from the reference {worst:E2} > {Tolerance:E0}");
    }

    [Fact]
    public void Layer_zero_matches_the_debug_residual()
    {
        var debug = Fixtures.Expected.RootElement.GetProperty("debug");
        var rows = debug.GetProperty("residual").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray();
        var meanOfRows = Enumerable.Range(0, rows[0].Length).Select(c => rows.Average(r => r[c])).Select(v => (float)v).ToArray();
        using var last = Fixtures.Engine(Pooling.Last, layers: [0]);
        using var mean = Fixtures.Engine(Pooling.Mean, layers: [0]);
        Assert.Equal(rows.Length, last.Tokenize(Fixtures.Questions[0]).Length);
        Assert.True(MaxDifference(rows[^1], last.Capture([Fixtures.Questions[0]], 1)[0].Vectors![0]) <= Tolerance);
        Assert.True(MaxDifference(meanOfRows, mean.Capture([Fixtures.Questions[0]], 1)[0].Vectors![0]) <= Tolerance);
    }

    [Fact]
    public void A_question_gives_the_same_vectors_whatever_shares_its_batch()
    {
        using var engine = Fixtures.Engine(Pooling.Mean, BosPolicy.Bos);
        var target = Fixtures.Questions[8]; // "Hi": the shortest, so the most padded
        var alone = engine.Capture([target], 1)[0];
        var withLong = engine.Capture([Fixtures.Questions[7], target, Fixtures.Questions[5]], 3)[1];
        for (var slot = 0; slot < Fixtures.Layers.Length; slot++)
        {
            Assert.True(MaxDifference(alone.Vectors![slot], withLong.Vectors![slot]) <= 1e-5);
        }
    }

    [Fact]
    public void Wrong_forward_passes_would_fail_this_comparison()
    {
        // The test's own power: the 'bos' vectors are far from the 'no-bos' reference.
        using var engine = Fixtures.Engine(Pooling.Mean, BosPolicy.Bos);
        var capture = engine.Capture([Fixtures.Questions[0]], 1)[0];
        var reference = Fixtures.Expected.RootElement.GetProperty("questions")[0].GetProperty("pooled").GetProperty("no-bos").GetProperty("6").GetProperty("mean")
            .EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Assert.True(MaxDifference(reference, capture.Vectors![0]) > 1e-2);
    }

    internal static double MaxDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        var worst = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
        }
        return worst;
    }
}
