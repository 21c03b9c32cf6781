using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Activations.Worker.Model;

/// <summary>
/// Grouped-query self-attention (HF LlamaAttention / Qwen2Attention / Qwen3Attention). q, k and v are one fused
/// matmul, with biases when the config has them; Qwen3 normalises each head's queries and keys (q_norm, k_norm)
/// before RoPE. Query head h reads key/value head h / (heads / kv_heads), as Hugging Face's repeat_kv does
/// (<see cref="ScaledDotProductAttention"/>).
/// </summary>
public sealed class DecoderAttention : IDisposable
{
    readonly Tensor qkvWeight;
    readonly Tensor? qkvBias;
    readonly Tensor outputWeight;
    readonly Tensor? outputBias;
    readonly RmsNorm? queryNorm;
    readonly RmsNorm? keyNorm;
    readonly int heads;
    readonly int kvHeads;
    readonly int headDim;

    public DecoderAttention(IWeightSource weights, string prefix, DecoderConfig config)
    {
        heads = config.NumAttentionHeads;
        kvHeads = config.NumKeyValueHeads;
        headDim = config.HeadDim;
        long hidden = config.HiddenSize;
        long qSize = (long)heads * headDim;
        long kvSize = (long)kvHeads * headDim;
        qkvWeight = weights.ReadStacked(($"{prefix}.q_proj.weight", [qSize, hidden]), ($"{prefix}.k_proj.weight", [kvSize, hidden]), ($"{prefix}.v_proj.weight", [kvSize, hidden]));
        if (config.QkvBias)
        {
            qkvBias = weights.ReadStacked(($"{prefix}.q_proj.bias", [qSize]), ($"{prefix}.k_proj.bias", [kvSize]), ($"{prefix}.v_proj.bias", [kvSize]));
        }
        outputWeight = weights.Read($"{prefix}.o_proj.weight", [hidden, qSize]);
        if (config.OutputBias)
        {
            outputBias = weights.Read($"{prefix}.o_proj.bias", [hidden]);
        }
        if (config.QkNorm)
        {
            queryNorm = new RmsNorm(weights, $"{prefix}.q_norm.weight", headDim, config.RmsNormEps);
            keyNorm = new RmsNorm(weights, $"{prefix}.k_norm.weight", headDim, config.RmsNormEps);
        }
    }

    /// <param name="x">normed hidden states [batch, seq, hidden]</param>
    /// <param name="onZ">gets z, the attention-weighted values [batch, seq, heads * head_dim] head-major (TransformerLens attn.hook_z)</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Action<Tensor>? onZ = null)
    {
        // Its own scope: q, k, v and their rotations are freed here, before the MLP runs.
        using var scope = torch.NewDisposeScope();
        var batch = x.shape[0];
        var length = x.shape[1];
        // 2-D matmuls: libtorch's CPU linear is about 10% faster on [rows, hidden] than on [batch, seq, hidden].
        var qkv = F.linear(x.reshape(batch * length, x.shape[2]), qkvWeight, qkvBias).view(batch, length, heads + 2 * kvHeads, headDim);
        var queries = qkv.narrow(2, 0, heads);
        var keys = qkv.narrow(2, heads, kvHeads);
        if (queryNorm is not null && keyNorm is not null)
        {
            // Qwen3: RMSNorm over each head's head_dim vector, before RoPE.
            queries = queryNorm.Forward(queries);
            keys = keyNorm.Forward(keys);
        }
        var q = RotaryEmbedding.Apply(queries.transpose(1, 2), cos, sin);
        var k = RotaryEmbedding.Apply(keys.transpose(1, 2), cos, sin);
        var v = qkv.narrow(2, heads + kvHeads, kvHeads).transpose(1, 2);
        // Fused causal attention, scale 1/sqrt(head_dim): [batch, heads, seq, head_dim].
        var attended = ScaledDotProductAttention.Compute(q, k, v, mask: null);
        // [batch, heads, seq, head_dim] -> [batch * seq, heads * head_dim], head-major: the layout o_proj reads.
        var z = attended.transpose(1, 2).reshape(batch * length, (long)heads * headDim);
        onZ?.Invoke(z.view(batch, length, -1));
        return F.linear(z, outputWeight, outputBias).view(batch, length, -1).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        qkvWeight.Dispose();
        qkvBias?.Dispose();
        outputWeight.Dispose();
        outputBias?.Dispose();
        queryNorm?.Dispose();
        keyNorm?.Dispose();
    }
}
