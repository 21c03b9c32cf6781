using Activations.Contracts;
using static TorchSharp.torch;

namespace Activations.Worker.Model;

/// <summary>
/// Where a model's forward pass reports its TransformerLens hook points. Every model family calls
/// <see cref="Offer"/> at the same sites (see <see cref="HookKind"/>) with the per-token values [batch, seq, width]; the
/// sink says which hooks it wants, so a model can skip work only an unwanted hook needs, and how deep to run.
/// </summary>
public abstract class HookSink
{
    /// <summary>The last decoder layer the forward pass runs; -1 runs none (hook_embed alone).</summary>
    public abstract int LastLayer { get; }

    public abstract bool Wants(HookPoint hook);

    /// <summary>
    /// Receives a wanted hook's values [batch, seq, width]. They are valid only during the call: later steps of the
    /// forward pass free them or update them in place, so a sink reduces or copies what it keeps before returning.
    /// </summary>
    protected abstract void Receive(HookPoint hook, Tensor values);

    /// <summary>Reports <paramref name="values"/> as <paramref name="hook"/> when the sink wants it.</summary>
    public void Offer(HookPoint hook, Tensor values)
    {
        if (Wants(hook))
        {
            Receive(hook, values);
        }
    }

    public void Offer(HookKind kind, int layer, Tensor values) => Offer(HookPoint.At(kind, layer), values);

    /// <summary>Whether <paramref name="kind"/> at <paramref name="layer"/> is wanted (for values a model computes only on request).</summary>
    public bool Wants(HookKind kind, int layer) => Wants(HookPoint.At(kind, layer));

    /// <summary>A sink that gets every layer's output (blocks.L.hook_resid_post) up to <paramref name="lastLayer"/>.</summary>
    public static HookSink LayerOutputs(Action<int, Tensor> onLayerOutput, int lastLayer) => new LayerOutputSink(onLayerOutput, lastLayer);

    sealed class LayerOutputSink(Action<int, Tensor> onLayerOutput, int lastLayer) : HookSink
    {
        public override int LastLayer => lastLayer;

        public override bool Wants(HookPoint hook) => hook.Kind == HookKind.ResidPost && hook.Layer <= lastLayer;

        protected override void Receive(HookPoint hook, Tensor values) => onLayerOutput(hook.Layer, values);
    }
}
