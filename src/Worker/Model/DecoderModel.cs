using Activations.Contracts;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Activations.Worker.Model;

/// <summary>
/// A Qwen2, Llama or Qwen3 decoder (HF Qwen2Model / LlamaModel / Qwen3Model; the config decides the differences)
/// truncated after <see cref="LayerCount"/> layers, its layers placed on one or more devices. The final norm and
/// lm_head exist only when asked for (benchmarks of the full forward pass); capture never needs them.
/// </summary>
public sealed class DecoderModel : IDecoderModel
{
    readonly Tensor embedding;
    readonly List<DecoderLayer> layers;
    readonly RotaryEmbedding rotary;
    readonly RmsNorm? finalNorm;
    readonly Tensor? lmHead;

    DecoderModel(DecoderConfig config, LayerPlacement placement, Tensor embedding, List<DecoderLayer> layers, RotaryEmbedding rotary, RmsNorm? finalNorm, Tensor? lmHead)
    {
        Config = config;
        Placement = placement;
        this.embedding = embedding;
        this.layers = layers;
        this.rotary = rotary;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
    }

    public DecoderConfig Config { get; }

    public LayerPlacement Placement { get; }

    public int LayerCount => layers.Count;

    public bool HasHead => lmHead is not null;

    public ScalarType Dtype => embedding.dtype;

    public Device Device => embedding.device;

    /// <summary>
    /// Builds layers 0..layerCount-1 (none for hook_embed alone), reading each weight once, straight onto its layer's device; nothing past them is
    /// read. Without a <paramref name="placement"/> everything goes on <paramref name="weights"/>' device.
    /// </summary>
    public static DecoderModel Build(DecoderConfig config, IWeightSource weights, int layerCount, bool includeHead = false, Action<int>? onLayerLoaded = null, LayerPlacement? placement = null)
    {
        if (layerCount < 0 || layerCount > config.NumHiddenLayers)
        {
            throw new ArgumentOutOfRangeException(nameof(layerCount), $"the model has {config.NumHiddenLayers} layers; asked for {layerCount}");
        }
        placement ??= LayerPlacement.Single(weights.Device, layerCount);
        if (placement.LayerCount != layerCount)
        {
            throw new ArgumentException($"the placement covers {placement.LayerCount} layers; building {layerCount}", nameof(placement));
        }
        IWeightSource On(Device device) => device.Equals(weights.Device) ? weights : new PlacedWeightSource(weights, device);
        var built = new List<IDisposable>();
        try
        {
            var embedding = On(placement.EmbeddingDevice).Read("model.embed_tokens.weight", [config.VocabSize, config.HiddenSize]);
            built.Add(embedding);
            var layers = new List<DecoderLayer>(layerCount);
            for (var i = 0; i < layerCount; i++)
            {
                var layer = new DecoderLayer(On(placement.DeviceOfLayer(i)), i, config);
                layers.Add(layer);
                built.Add(layer);
                onLayerLoaded?.Invoke(i);
            }
            RmsNorm? finalNorm = null;
            Tensor? lmHead = null;
            if (includeHead)
            {
                var last = On(layerCount > 0 ? placement.DeviceOfLayer(layerCount - 1) : placement.EmbeddingDevice);
                finalNorm = new RmsNorm(last, "model.norm.weight", config.HiddenSize, config.RmsNormEps);
                built.Add(finalNorm);
                lmHead = last.Read(config.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight", [config.VocabSize, config.HiddenSize]);
            }
            var rotary = new RotaryEmbedding(config, weights.Dtype);
            return new DecoderModel(config, placement, embedding, layers, rotary, finalNorm, lmHead);
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

    public Tensor? Forward(Tensor inputIds, HookSink hooks, bool computeLogits = false)
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
        // The rotary tables, made once per device the run uses (in the outer scope: every layer reads them).
        var perDevice = new Dictionary<string, (Tensor Cos, Tensor Sin)>();
        for (var i = 0; i <= last; i++)
        {
            var device = layers[i].Device;
            var key = device.ToString();
            if (perDevice.ContainsKey(key))
            {
                continue;
            }
            perDevice[key] = rotary.ForLength(length, device);
        }
        var deviceIndex = 0; // the embedding's
        for (var i = 0; i <= last; i++)
        {
            // One scope per layer keeps peak memory near the weights' size.
            using var scope = torch.NewDisposeScope();
            var layer = layers[i];
            if (Placement.LayerDeviceIndices[i] != deviceIndex)
            {
                // The next range of layers is on another device: the residual stream moves there (a copy even
                // between two entries for the same device, so a cpu,cpu split runs the path a GPU split runs).
                var moved = hidden.to(layer.Device, copy: true);
                hidden.Dispose();
                hidden = moved;
                deviceIndex = Placement.LayerDeviceIndices[i];
            }
            var (cos, sin) = perDevice[layer.Device.ToString()];
            var output = layer.Forward(hidden, cos, sin, hooks, i);
            var previous = hidden;
            hidden = output.MoveToOuterDisposeScope();
            previous.Dispose();
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
    public Tensor? Forward(Tensor inputIds, Action<int, Tensor> onLayerOutput, bool computeLogits = false, int? stopAfterLayer = null)
        => Forward(inputIds, HookSink.LayerOutputs(onLayerOutput, Math.Min(stopAfterLayer ?? layers.Count - 1, layers.Count - 1)), computeLogits);

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
