using Activations.Contracts;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Activations.Worker.Model;

/// <summary>
/// A Qwen2 decoder truncated after <see cref="LayerCount"/> layers. The final norm and lm_head exist only when
/// asked for (benchmarks of the full forward pass); capture never needs them.
/// </summary>
public sealed class Qwen2Model : IDisposable
{
    readonly Tensor embedding;
    readonly List<Qwen2DecoderLayer> layers;
    readonly Qwen2RotaryEmbedding rotary;
    readonly Qwen2RmsNorm? finalNorm;
    readonly Tensor? lmHead;

    Qwen2Model(Qwen2Config config, Tensor embedding, List<Qwen2DecoderLayer> layers, Qwen2RotaryEmbedding rotary, Qwen2RmsNorm? finalNorm, Tensor? lmHead)
    {
        Config = config;
        this.embedding = embedding;
        this.layers = layers;
        this.rotary = rotary;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
    }

    public Qwen2Config Config { get; }

    public int LayerCount => layers.Count;

    public bool HasHead => lmHead is not null;

    public ScalarType Dtype => embedding.dtype;

    public Device Device => embedding.device;

    /// <summary>Builds layers 0..layerCount-1 (none for hook_embed alone), reading each weight once; nothing past them is read.</summary>
    public static Qwen2Model Build(Qwen2Config config, IWeightSource weights, int layerCount, bool includeHead = false, Action<int>? onLayerLoaded = null)
    {
        if (layerCount < 0 || layerCount > config.NumHiddenLayers)
        {
            throw new ArgumentOutOfRangeException(nameof(layerCount), $"the model has {config.NumHiddenLayers} layers; asked for {layerCount}");
        }
        var built = new List<IDisposable>();
        try
        {
            var embedding = weights.Read("model.embed_tokens.weight", [config.VocabSize, config.HiddenSize]);
            built.Add(embedding);
            var layers = new List<Qwen2DecoderLayer>(layerCount);
            for (var i = 0; i < layerCount; i++)
            {
                var layer = new Qwen2DecoderLayer(weights, i, config);
                layers.Add(layer);
                built.Add(layer);
                onLayerLoaded?.Invoke(i);
            }
            Qwen2RmsNorm? finalNorm = null;
            Tensor? lmHead = null;
            if (includeHead)
            {
                finalNorm = new Qwen2RmsNorm(weights, "model.norm.weight", config.HiddenSize, config.RmsNormEps);
                built.Add(finalNorm);
                lmHead = weights.Read(config.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight", [config.VocabSize, config.HiddenSize]);
            }
            var rotary = new Qwen2RotaryEmbedding(config.HeadDim, config.RopeTheta, weights.Dtype, weights.Device);
            return new Qwen2Model(config, embedding, layers, rotary, finalNorm, lmHead);
        }
        catch
        {
            foreach (var item in built)
            {
                item.Dispose();
            }
            throw;
        }
    }

    /// <summary>
    /// Runs right-padded <paramref name="inputIds"/> [batch, seq] through layers 0..<see cref="HookSink.LastLayer"/>,
    /// offering each hook point to <paramref name="hooks"/> as it is computed (hook_embed first, then each layer's in
    /// forward order). Positions are 0..seq-1 for every row; padded keys are masked.
    /// </summary>
    /// <param name="keyValid">bool [batch, seq], true on real tokens; null when no row is padded.</param>
    /// <returns>lm_head logits [batch, seq, vocab] when the model has a head, <paramref name="computeLogits"/> is set and every layer ran; else null.</returns>
    public Tensor? Forward(Tensor inputIds, Tensor? keyValid, HookSink hooks, bool computeLogits = false)
    {
        if (hooks.LastLayer >= layers.Count)
        {
            throw new ArgumentException($"the model holds layers 0..{layers.Count - 1}; the hooks need layer {hooks.LastLayer}", nameof(hooks));
        }
        using var noGrad = torch.no_grad();
        var batch = inputIds.shape[0];
        var length = inputIds.shape[1];
        using var outer = torch.NewDisposeScope();
        var hidden = embedding.index_select(0, inputIds.to(Device).reshape(-1)).view(batch, length, Config.HiddenSize);
        hooks.Offer(HookPoint.Embed, hidden);
        var last = hooks.LastLayer;
        if (last >= 0)
        {
            var (cos, sin) = rotary.ForLength(length);
            Tensor? mask = null;
            if (keyValid is not null)
            {
                var causal = torch.ones(length, length, ScalarType.Bool, Device).tril();
                mask = causal.unsqueeze(0).unsqueeze(0).logical_and(keyValid.to(Device).view(batch, 1, 1, length));
            }
            for (var i = 0; i <= last; i++)
            {
                // One scope per layer keeps peak memory near the weights' size.
                using var scope = torch.NewDisposeScope();
                var output = layers[i].Forward(hidden, cos, sin, mask, hooks, i);
                var previous = hidden;
                hidden = output.MoveToOuterDisposeScope();
                previous.Dispose();
            }
        }
        if (computeLogits && last == layers.Count - 1 && lmHead is not null && finalNorm is not null)
        {
            return F.linear(finalNorm.Forward(hidden), lmHead).MoveToOuterDisposeScope();
        }
        return null;
    }

    /// <summary>
    /// Runs every loaded layer (or up to <paramref name="stopAfterLayer"/>); after layer L, <paramref name="onLayerOutput"/>
    /// gets (L, blocks.L.hook_resid_post [batch, seq, hidden]), valid only during the call.
    /// </summary>
    public Tensor? Forward(Tensor inputIds, Tensor? keyValid, Action<int, Tensor> onLayerOutput, bool computeLogits = false, int? stopAfterLayer = null)
        => Forward(inputIds, keyValid, HookSink.LayerOutputs(onLayerOutput, Math.Min(stopAfterLayer ?? layers.Count - 1, layers.Count - 1)), computeLogits);

    public void Dispose()
    {
        embedding.Dispose();
        foreach (var layer in layers)
        {
            layer.Dispose();
        }
        rotary.Dispose();
        finalNorm?.Dispose();
        lmHead?.Dispose();
    }
}
