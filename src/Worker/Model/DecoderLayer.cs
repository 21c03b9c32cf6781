using Activations.Contracts;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Model;

/// <summary>
/// x + attn(norm(x)), then + mlp(norm(...)), reporting TransformerLens' hook points on the way: hook_resid_pre (x),
/// attn.hook_z, hook_attn_out, hook_resid_mid, hook_mlp_out and hook_resid_post (the output).
/// </summary>
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

    /// <param name="x">the layer's input [batch, seq, hidden]</param>
    /// <param name="index">this layer's number, for the hook names</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, HookSink hooks, int index)
    {
        hooks.Offer(HookKind.ResidPre, index, x);
        var z = HookPoint.At(HookKind.AttnZ, index);
        var attnOut = attention.Forward(inputNorm.Forward(x), cos, sin, hooks.Wants(z) ? values => hooks.Offer(z, values) : null);
        hooks.Offer(HookKind.AttnOut, index, attnOut);
        // In place: the sink has already taken what it keeps of attn_out.
        var residMid = attnOut.add_(x);
        hooks.Offer(HookKind.ResidMid, index, residMid);
        var mlpOut = mlp.Forward(postAttentionNorm.Forward(residMid));
        hooks.Offer(HookKind.MlpOut, index, mlpOut);
        var residPost = mlpOut.add_(residMid);
        hooks.Offer(HookKind.ResidPost, index, residPost);
        return residPost;
    }

    public void Dispose()
    {
        inputNorm.Dispose();
        attention.Dispose();
        postAttentionNorm.Dispose();
        mlp.Dispose();
    }
}
