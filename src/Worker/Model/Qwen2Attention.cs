using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Activations.Worker.Model;

/// <summary>
/// Grouped-query self-attention with q/k/v biases. q, k and v are one fused matmul; query head h reads
/// key/value head h / (heads / kv_heads), as Hugging Face's repeat_kv does (<see cref="ScaledDotProductAttention"/>).
/// </summary>
public sealed class Qwen2Attention : IDisposable
{
    readonly Tensor qkvWeight;
    readonly Tensor qkvBias;
    readonly Tensor outputWeight;
    readonly int heads;
    readonly int kvHeads;
    readonly int headDim;

    public Qwen2Attention(IWeightSource weights, string prefix, Qwen2Config config)
    {
        heads = config.NumAttentionHeads;
        kvHeads = config.NumKeyValueHeads;
        headDim = config.HeadDim;
        long hidden = config.HiddenSize;
        long kvSize = (long)kvHeads * headDim;
        qkvWeight = weights.ReadStacked(($"{prefix}.q_proj.weight", [hidden, hidden]), ($"{prefix}.k_proj.weight", [kvSize, hidden]), ($"{prefix}.v_proj.weight", [kvSize, hidden]));
        qkvBias = weights.ReadStacked(($"{prefix}.q_proj.bias", [hidden]), ($"{prefix}.k_proj.bias", [kvSize]), ($"{prefix}.v_proj.bias", [kvSize]));
        outputWeight = weights.Read($"{prefix}.o_proj.weight", [hidden, hidden]);
    }

    /// <param name="x">normed hidden states [batch, seq, hidden]</param>
    /// <param name="mask">boolean [batch, 1, seq, seq], true where a query may attend; null: causal only</param>
    /// <param name="onZ">when set, gets attn.hook_z [batch, seq, heads * head_dim]: each head's attention-weighted
    /// values (v_proj's bias included), head-major (column h * head_dim + j), the input of o_proj</param>
    /// <returns>hook_attn_out [batch, seq, hidden]</returns>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, Action<Tensor>? onZ = null)
    {
        // Its own scope: q, k, v and their rotations are freed here, before the MLP runs.
        using var scope = torch.NewDisposeScope();
        var batch = x.shape[0];
        var length = x.shape[1];
        // 2-D matmuls: libtorch's CPU linear is about 10% faster on [rows, hidden] than on [batch, seq, hidden].
        var qkv = F.linear(x.reshape(batch * length, x.shape[2]), qkvWeight, qkvBias).view(batch, length, heads + 2 * kvHeads, headDim);
        var q = Qwen2RotaryEmbedding.Apply(qkv.narrow(2, 0, heads).transpose(1, 2), cos, sin);
        var k = Qwen2RotaryEmbedding.Apply(qkv.narrow(2, heads, kvHeads).transpose(1, 2), cos, sin);
        var v = qkv.narrow(2, heads + kvHeads, kvHeads).transpose(1, 2);
        // Fused attention, scale 1/sqrt(head_dim): [batch, heads, seq, head_dim].
        var attended = ScaledDotProductAttention.Compute(q, k, v, mask);
        // [batch, heads, seq, head_dim] -> [batch * seq, heads * head_dim], head-major as o_proj reads it.
        var merged = attended.transpose(1, 2).reshape(batch * length, (long)heads * headDim);
        onZ?.Invoke(merged.view(batch, length, -1));
        return F.linear(merged, outputWeight).view(batch, length, -1).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        qkvWeight.Dispose();
        qkvBias.Dispose();
        outputWeight.Dispose();
    }
}
