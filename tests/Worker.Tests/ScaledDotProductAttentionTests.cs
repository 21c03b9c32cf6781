using Activations.Worker.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Tests;

/// <summary>The fused attention against softmax(q·kᵀ·scale, masked)·v written out, with grouped kv heads.</summary>
public class ScaledDotProductAttentionTests
{
    static Tensor Reference(Tensor q, Tensor k, Tensor v, Tensor allowed, double scale)
    {
        var groups = q.shape[1] / k.shape[1];
        // HF's repeat_kv: query head h reads kv head h / groups.
        k = k.repeat_interleave(groups, 1);
        v = v.repeat_interleave(groups, 1);
        var scores = q.matmul(k.transpose(-1, -2)) * scale;
        return scores.masked_fill(allowed.logical_not(), double.NegativeInfinity).softmax(-1).matmul(v);
    }

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, null)]
    [InlineData(true, 0.2)]
    public void Matches_attention_written_out_with_grouped_kv_heads(bool padded, double? scale)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        long batch = 2, heads = 6, kvHeads = 2, length = 9, headDim = 8;
        var q = torch.randn(batch, heads, length, headDim);
        var k = torch.randn(batch, kvHeads, length, headDim);
        var v = torch.randn(batch, kvHeads, length, headDim);
        var causal = torch.ones(length, length, ScalarType.Bool).tril().view(1, 1, length, length);
        Tensor? mask = null;
        var allowed = causal.expand(batch, 1, length, length);
        if (padded)
        {
            // Row 1 has 5 real tokens, right-padded to 9.
            var keyValid = torch.arange(length).unsqueeze(0).lt(torch.tensor(new long[] { length, 5 }).unsqueeze(1));
            mask = causal.logical_and(keyValid.view(batch, 1, 1, length));
            allowed = mask;
        }
        var expected = Reference(q, k, v, allowed, scale ?? 1 / Math.Sqrt(headDim));
        var actual = ScaledDotProductAttention.Compute(q, k, v, mask, scale);
        Assert.Equal([batch, heads, length, headDim], actual.shape);
        Assert.True(torch.allclose(expected, actual, rtol: 0, atol: 1e-5), $"largest difference {(expected - actual).abs().max().item<float>():E2}");
        // The comparison's own power: the default scale, or the wrong kv head, gives other values.
        if (scale is not null)
        {
            Assert.False(torch.allclose(expected, ScaledDotProductAttention.Compute(q, k, v, mask), rtol: 0, atol: 1e-3));
        }
        var swapped = torch.cat([k.narrow(1, 1, 1), k.narrow(1, 0, 1)], 1);
        Assert.False(torch.allclose(expected, ScaledDotProductAttention.Compute(q, swapped, v, mask, scale), rtol: 0, atol: 1e-3));
    }
}
