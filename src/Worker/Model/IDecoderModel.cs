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
    /// Runs right-padded <paramref name="inputIds"/> [batch, seq] through the layers up to <paramref name="stopAfterLayer"/>
    /// (default: all). After layer L, <paramref name="onLayerOutput"/> gets (L, residual [batch, seq, hidden]) on that
    /// layer's device; it is freed when the callback returns. Positions are 0..seq-1; padded keys are masked.
    /// </summary>
    /// <param name="keyValid">bool [batch, seq], true on real tokens; null when no row is padded.</param>
    /// <returns>lm_head logits [batch, seq, vocab] when the model has a head and <paramref name="computeLogits"/>; else null.</returns>
    Tensor? Forward(Tensor inputIds, Tensor? keyValid, Action<int, Tensor> onLayerOutput, bool computeLogits = false, int? stopAfterLayer = null);
}
