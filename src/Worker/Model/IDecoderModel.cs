using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Model;

/// <summary>A decoder-only language model truncated after <see cref="LayerCount"/> layers, as the engine uses it.</summary>
public interface IDecoderModel : IDisposable
{
    DecoderConfig Config { get; }

    int LayerCount { get; }

    ScalarType Dtype { get; }

    /// <summary>Where the input ids go (the embedding's device).</summary>
    Device Device { get; }

    /// <summary>Which device holds each layer.</summary>
    LayerPlacement Placement { get; }

    /// <summary>
    /// Runs right-padded <paramref name="inputIds"/> [batch, seq] through layers 0..<see cref="HookSink.LastLayer"/>,
    /// offering each hook point to <paramref name="hooks"/> as it is computed (hook_embed first, then each layer's in
    /// forward order), on the device of the layer that computed it. Positions are 0..seq-1. Attention is causal only: a real
    /// token never reads the padding after it, so no key-padding mask is needed (padded positions hold values no one reads).
    /// </summary>
    /// <returns>lm_head logits [batch, seq, vocab] when the model has a head, <paramref name="computeLogits"/> is set and every layer ran; else null.</returns>
    Tensor? Forward(Tensor inputIds, HookSink hooks, bool computeLogits = false);

    /// <summary>
    /// Runs every loaded layer (or up to <paramref name="stopAfterLayer"/>); after layer L, <paramref name="onLayerOutput"/>
    /// gets (L, blocks.L.hook_resid_post [batch, seq, hidden]), valid only during the call.
    /// </summary>
    Tensor? Forward(Tensor inputIds, Action<int, Tensor> onLayerOutput, bool computeLogits = false, int? stopAfterLayer = null);
}
