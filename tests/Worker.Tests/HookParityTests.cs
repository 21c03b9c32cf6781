using System.Text.Json;
using Activations.Contracts;

namespace Activations.Worker.Tests;

/// <summary>
/// Every TransformerLens hook point against the reference implementation's float32 vectors (expected-hooks.json,
/// atol 1e-4): hook_embed and every hook of layers 6, 12, 18, 24, both BOS policies, all three poolings, one question
/// at a time and batched.
/// </summary>
public class HookParityTests
{
    const double Tolerance = 1e-4;

    static JsonElement Root => Fixtures.ExpectedHooks.RootElement;

    static HookPoint[] FixtureHooks => [.. Root.GetProperty("hooks").EnumerateArray().Select(h => HookPoint.Parse(h.GetString()!))];

    static float[] Reference(int question, string policy, HookPoint hook, string pooling) =>
        [.. Root.GetProperty("questions")[question].GetProperty("pooled").GetProperty(policy).GetProperty(hook.Name).GetProperty(pooling).EnumerateArray().Select(e => e.GetSingle())];

    [Theory]
    [MemberData(nameof(ParityTests.Cases), MemberType = typeof(ParityTests))]
    public void Every_hook_matches_the_reference_one_question_at_a_time_and_in_one_batch(string policyName, string poolingName)
    {
        Assert.True(OptionNames.TryParseBosPolicy(policyName, out var policy));
        Assert.True(OptionNames.TryParsePooling(poolingName, out var pooling));
        var hooks = FixtureHooks;
        Assert.Equal(1 + 4 * 6, hooks.Length);
        var spec = Fixtures.Spec(pooling, policy, hooks: hooks);
        using var engine = Fixtures.Engine(spec);

        var oneByOne = Fixtures.Questions.SelectMany(q => engine.Capture([q], spec, batchSize: 1)).ToArray();
        var batched = engine.Capture(Fixtures.Questions, spec, batchSize: Fixtures.Questions.Length);

        var worst = new Dictionary<HookPoint, double>();
        for (var q = 0; q < Fixtures.Questions.Length; q++)
        {
            Assert.Equal(hooks.Order(), oneByOne[q].Vectors!.Keys.Order());
            Assert.Equal(hooks.Order(), batched[q].Vectors!.Keys.Order());
            foreach (var hook in hooks)
            {
                var reference = Reference(q, policyName, hook, poolingName);
                Assert.Equal(Root.GetProperty("widths").GetProperty(hook.Name).GetInt32(), oneByOne[q].Vectors![hook].Length);
                var difference = Math.Max(ParityTests.MaxDifference(reference, oneByOne[q].Vectors![hook]), ParityTests.MaxDifference(reference, batched[q].Vectors![hook]));
                worst[hook] = Math.Max(worst.GetValueOrDefault(hook), difference);
            }
        }
        var failing = worst.Where(w => w.Value > Tolerance).Select(w => $"{w.Key}: {w.Value:E2}").ToList();
        Assert.True(failing.Count == 0, $"hooks further than {Tolerance:E0} from the reference: {string.Join("; ", failing)}");
    }

    [Fact]
    public void A_wrong_hook_misses_the_reference()
    {
        // The comparison's own power: resid_mid and resid_post swapped, and hook_z read d_head-major, both miss by far more than 1e-4.
        var mid = HookPoint.At(HookKind.ResidMid, 12);
        var post = HookPoint.ResidPost(12);
        var z = HookPoint.At(HookKind.AttnZ, 6);
        var spec = Fixtures.Spec(Pooling.Mean, BosPolicy.NoBos, hooks: [mid, post, z]);
        using var engine = Fixtures.Engine(spec);
        var captures = engine.Capture(Fixtures.Questions, spec, 4);
        var swapped = 0.0;
        var transposed = 0.0;
        var right = 0.0;
        for (var q = 0; q < Fixtures.Questions.Length; q++)
        {
            var vectors = captures[q].Vectors!;
            swapped = Math.Max(swapped, ParityTests.MaxDifference(Reference(q, "no-bos", post, "mean"), vectors[mid]));
            swapped = Math.Max(swapped, ParityTests.MaxDifference(Reference(q, "no-bos", mid, "mean"), vectors[post]));
            // 4 heads of 12: column h * 12 + j read as j * 4 + h.
            var zHeadMajor = vectors[z];
            var zDimMajor = Enumerable.Range(0, 48).Select(c => zHeadMajor[(c % 4) * 12 + c / 4]).ToArray();
            transposed = Math.Max(transposed, ParityTests.MaxDifference(Reference(q, "no-bos", z, "mean"), zDimMajor));
            right = Math.Max(right, ParityTests.MaxDifference(Reference(q, "no-bos", z, "mean"), zHeadMajor));
        }
        Assert.True(right <= Tolerance, $"hook_z itself is {right:E2} away");
        Assert.True(swapped > 1e-3, $"mid/post swapped is only {swapped:E2} away");
        Assert.True(transposed > 1e-2, $"hook_z d_head-major is only {transposed:E2} away");
    }

    [Fact]
    public void The_forward_pass_stops_after_the_deepest_layer_a_hook_needs()
    {
        using (var embedOnly = Fixtures.Engine(Fixtures.Spec(hooks: [HookPoint.Embed])))
        {
            Assert.Equal(0, embedOnly.LayerCount);
            var capture = embedOnly.Capture([Fixtures.Questions[0]], Fixtures.Spec(Pooling.Last, hooks: [HookPoint.Embed]), 1)[0];
            Assert.True(ParityTests.MaxDifference(Reference(0, "no-bos", HookPoint.Embed, "last"), capture.Vectors![HookPoint.Embed]) <= Tolerance);
        }
        var pre = HookPoint.At(HookKind.ResidPre, 6);
        using var engine = Fixtures.Engine(Fixtures.Spec(hooks: [pre, HookPoint.Embed]));
        Assert.Equal(7, engine.LayerCount);
        Assert.Throws<ArgumentException>(() => engine.Capture([Fixtures.Questions[0]], Fixtures.Spec(hooks: [HookPoint.At(HookKind.MlpOut, 7)]), 1));
    }

    [Fact]
    public void Hook_embed_equals_the_first_layers_input()
    {
        var pre0 = HookPoint.At(HookKind.ResidPre, 0);
        var spec = Fixtures.Spec(Pooling.Mean, BosPolicy.Bos, hooks: [HookPoint.Embed, pre0]);
        using var engine = Fixtures.Engine(spec);
        var capture = engine.Capture([Fixtures.Questions[3]], spec, 1)[0];
        Assert.Equal(capture.Vectors![HookPoint.Embed], capture.Vectors![pre0]);
    }
}
