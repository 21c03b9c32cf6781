using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Model;

/// <summary>x + attn(norm(x)), then + mlp(norm(...)): the output is TransformerLens' blocks.L.hook_resid_post.</summary>
public sealed class DecoderLayer : IDisposable
{
    readonly RmsNorm inputNorm;
    readonly DecoderAttention attention;
    readonly RmsNorm postAttentionNorm;
    readonly DecoderMlp mlp;

    /// <param name="weights">a source placing its tensors on this layer's device</param>
    public DecoderLayer(IWeightSource weights, int index, DecoderConfig config)
    {
        var prefix = $"model.layers.{index}";
        Device = weights.Device;
        inputNorm = new RmsNorm(weights, $"{prefix}.input_layernorm.weight", config.HiddenSize, config.RmsNormEps);
        attention = new DecoderAttention(weights, $"{prefix}.self_attn", config);
        postAttentionNorm = new RmsNorm(weights, $"{prefix}.post_attention_layernorm.weight", config.HiddenSize, config.RmsNormEps);
        mlp = new DecoderMlp(weights, $"{prefix}.mlp", config);
    }

    /// <summary>Where this layer's weights are; its input must be there too.</summary>
    public Device Device { get; }

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
