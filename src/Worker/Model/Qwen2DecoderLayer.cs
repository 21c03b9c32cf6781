using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Model;

/// <summary>x + attn(norm(x)), then + mlp(norm(...)): the output is TransformerLens' blocks.L.hook_resid_post.</summary>
public sealed class Qwen2DecoderLayer : IDisposable
{
    readonly Qwen2RmsNorm inputNorm;
    readonly Qwen2Attention attention;
    readonly Qwen2RmsNorm postAttentionNorm;
    readonly Qwen2Mlp mlp;

    public Qwen2DecoderLayer(IWeightSource weights, int index, Qwen2Config config)
    {
        var prefix = $"model.layers.{index}";
        inputNorm = new Qwen2RmsNorm(weights, $"{prefix}.input_layernorm.weight", config.HiddenSize, config.RmsNormEps);
        attention = new Qwen2Attention(weights, $"{prefix}.self_attn", config);
        postAttentionNorm = new Qwen2RmsNorm(weights, $"{prefix}.post_attention_layernorm.weight", config.HiddenSize, config.RmsNormEps);
        mlp = new Qwen2Mlp(weights, $"{prefix}.mlp", config);
    }

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask)
    {
        var afterAttention = attention.Forward(inputNorm.Forward(x), cos, sin, mask).add_(x);
        return mlp.Forward(postAttentionNorm.Forward(afterAttention)).add_(afterAttention);
    }

    public void Dispose()
    {
        inputNorm.Dispose();
        attention.Dispose();
        postAttentionNorm.Dispose();
        mlp.Dispose();
    }
}
