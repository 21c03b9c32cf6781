using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Activations.Worker.Model;

/// <summary>
/// softmax(q·kᵀ·scale + mask)·v per query head, through libtorch's fused scaled_dot_product_attention: on the CPU
/// its flash kernel walks keys in blocks with an online softmax (float32 accumulation in every dtype), so no
/// [seq, seq] score matrix is ever held; memory grows with the sequence, not its square (about 30 MB over q, k and v
/// for 4,096 tokens, 12 heads, where the scores alone would take 800 MB in float32).
/// </summary>
public static class ScaledDotProductAttention
{
    /// <param name="q">queries [batch, heads, seq, head_dim]</param>
    /// <param name="k">keys [batch, kv_heads, seq, head_dim]; query head h reads kv head h / (heads / kv_heads), as HF's repeat_kv</param>
    /// <param name="v">values, as <paramref name="k"/></param>
    /// <param name="mask">bool [batch, 1, seq, seq], true where a query may attend (causal and real keys); null: causal only</param>
    /// <param name="scale">the logits' scale; null: 1/sqrt(head_dim)</param>
    /// <returns>the weighted values [batch, heads, seq, head_dim] (TransformerLens' hook_z, before o_proj)</returns>
    public static Tensor Compute(Tensor q, Tensor k, Tensor v, Tensor? mask, double? scale = null)
    {
        var heads = q.shape[1];
        var kvHeads = k.shape[1];
        if (kvHeads != heads)
        {
            // TorchSharp's binding has no enable_gqa flag: HF's repeat_kv (expand, then one copy; no device sync).
            k = RepeatKv(k, heads / kvHeads);
            v = RepeatKv(v, heads / kvHeads);
        }
        var headDim = q.shape[^1];
        if (scale is { } s && Math.Abs(s * Math.Sqrt(headDim) - 1) > 1e-12)
        {
            // The binding takes no scale either: fold the ratio to the default 1/sqrt(head_dim) into q.
            q = q * (s * Math.Sqrt(headDim));
        }
        return mask is null
            ? F.scaled_dot_product_attention(q, k, v, is_casual: true)
            : F.scaled_dot_product_attention(q, k, v, attn_mask: mask);
    }

    /// <summary>[batch, kv_heads, seq, head_dim] -> [batch, kv_heads * groups, seq, head_dim], kv head g serving query heads g * groups ..</summary>
    static Tensor RepeatKv(Tensor x, long groups)
    {
        var (batch, kvHeads, length, headDim) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        return x.unsqueeze(2).expand(batch, kvHeads, groups, length, headDim).reshape(batch, kvHeads * groups, length, headDim);
    }
}
