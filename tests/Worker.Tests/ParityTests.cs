using System.Text.Json;
using Activations.Contracts;
using Activations.Worker.Capture;

namespace Activations.Worker.Tests;

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
        var settings = Fixtures.Spec(pooling, policy);
        using var engine = Fixtures.Engine(settings);

        var oneByOne = Fixtures.Questions.SelectMany(q => engine.Capture([q], settings, batchSize: 1)).ToArray();
        var padding = engine.PaddedTokens - engine.RealTokens;
        var batched = engine.Capture(Fixtures.Questions, settings, batchSize: Fixtures.Questions.Length);
        Assert.True(engine.PaddedTokens - engine.RealTokens > padding, "the batched run had no padded micro-batch");

        var questions = Fixtures.Expected.RootElement.GetProperty("questions");
        var worst = 0.0;
        for (var q = 0; q < Fixtures.Questions.Length; q++)
        {
            var expected = questions[q].GetProperty("pooled").GetProperty(policyName);
            Assert.Equal(questions[q].GetProperty("input").GetProperty(policyName).GetArrayLength(), oneByOne[q].TokenCount);
            for (var slot = 0; slot < Fixtures.Layers.Length; slot++)
            {
                var reference = expected.GetProperty(Fixtures.Layers[slot].ToString()).GetProperty(poolingName).EnumerateArray().Select(e => e.GetSingle()).ToArray();
                worst = Math.Max(worst, MaxDifference(reference, oneByOne[q].Vectors![HookPoint.ResidPost(Fixtures.Layers[slot])]));
                worst = Math.Max(worst, MaxDifference(reference, batched[q].Vectors![HookPoint.ResidPost(Fixtures.Layers[slot])]));
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
        var last = Fixtures.Spec(Pooling.Last, layers: [0]);
        var mean = Fixtures.Spec(Pooling.Mean, layers: [0]);
        using var engine = Fixtures.Engine(last);
        Assert.Equal(1, engine.LayerCount);
        Assert.Equal(rows.Length, engine.Tokenize(Fixtures.Questions[0], BosPolicy.NoBos).Length);
        Assert.True(MaxDifference(rows[^1], engine.Capture([Fixtures.Questions[0]], last, 1)[0].Vectors![HookPoint.ResidPost(0)]) <= Tolerance);
        Assert.True(MaxDifference(meanOfRows, engine.Capture([Fixtures.Questions[0]], mean, 1)[0].Vectors![HookPoint.ResidPost(0)]) <= Tolerance);
    }

    [Fact]
    public void A_question_gives_the_same_vectors_whatever_shares_its_batch()
    {
        var settings = Fixtures.Spec(Pooling.Mean, BosPolicy.Bos);
        using var engine = Fixtures.Engine(settings);
        var target = Fixtures.Questions[2]; // 15 tokens with BOS: the shortest of the three, so padded
        var alone = engine.Capture([target], settings, 1)[0];
        var (passes, padding) = (engine.ForwardPasses, engine.PaddedTokens - engine.RealTokens);
        var withLonger = engine.Capture([Fixtures.Questions[3], target, Fixtures.Questions[10]], settings, 3)[1];
        // One forward pass, right-padded: 17, 16 and 15 tokens padded to 17.
        Assert.Equal(passes + 1, engine.ForwardPasses);
        Assert.Equal(padding + 3, engine.PaddedTokens - engine.RealTokens);
        for (var slot = 0; slot < Fixtures.Layers.Length; slot++)
        {
            Assert.True(MaxDifference(alone.Vectors![HookPoint.ResidPost(Fixtures.Layers[slot])], withLonger.Vectors![HookPoint.ResidPost(Fixtures.Layers[slot])]) <= 1e-5);
        }
    }

    [Fact]
    public void One_engine_serves_any_hooks_poolings_and_policies_up_to_its_depth()
    {
        using var engine = Fixtures.Engine(Fixtures.Spec());
        Assert.Equal(25, engine.LayerCount);
        var other = Fixtures.Spec(Pooling.Last, BosPolicy.Bos, layers: [24, 6]);
        var capture = engine.Capture([Fixtures.Questions[1]], other, 1)[0];
        var expected = Fixtures.Expected.RootElement.GetProperty("questions")[1].GetProperty("pooled").GetProperty("bos");
        Assert.True(MaxDifference(expected.GetProperty("24").GetProperty("last").EnumerateArray().Select(e => e.GetSingle()).ToArray(), capture.Vectors![HookPoint.ResidPost(24)]) <= Tolerance);
        Assert.True(MaxDifference(expected.GetProperty("6").GetProperty("last").EnumerateArray().Select(e => e.GetSingle()).ToArray(), capture.Vectors![HookPoint.ResidPost(6)]) <= Tolerance);
        Assert.Throws<ArgumentException>(() => engine.Capture([Fixtures.Questions[1]], Fixtures.Spec(layers: [25]), 1));
    }

    [Fact]
    public void A_question_over_the_token_limit_fails_alone()
    {
        var settings = Fixtures.Spec() with { MaxTokens = 20 };
        using var engine = Fixtures.Engine(settings);
        var captures = engine.Capture(Fixtures.Questions, settings, 4);
        var tooLong = captures[7];
        Assert.False(tooLong.Succeeded);
        Assert.StartsWith("the question has ", tooLong.Error);
        Assert.EndsWith("tokens, more than the limit of 20", tooLong.Error);
        Assert.True(captures[0].Succeeded);
    }

    [Fact]
    public void Wrong_forward_passes_would_fail_this_comparison()
    {
        // The test's own power: the 'bos' vectors are far from the 'no-bos' reference.
        var settings = Fixtures.Spec(Pooling.Mean, BosPolicy.Bos);
        using var engine = Fixtures.Engine(settings);
        var capture = engine.Capture([Fixtures.Questions[0]], settings, 1)[0];
        var reference = Fixtures.Expected.RootElement.GetProperty("questions")[0].GetProperty("pooled").GetProperty("no-bos").GetProperty("6").GetProperty("mean")
            .EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Assert.True(MaxDifference(reference, capture.Vectors![HookPoint.ResidPost(6)]) > 1e-2);
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
