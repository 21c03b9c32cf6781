using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Activations.Coordinator.Assembly;

/// <summary>What to assemble: the layers, each class's pair ids in row order, where the vectors are, the file dtype.</summary>
public sealed record AssemblyRequest(
    IReadOnlyList<int> Layers,
    IReadOnlyList<string> FaithfulPairIds,
    IReadOnlyList<string> UnfaithfulPairIds,
    IPooledVectorSource Vectors,
    ActivationDtype Dtype);

/// <summary>One layer's stacked activations; owns its tensors.</summary>
public sealed class LayerActivations(int layer, Tensor faithful, Tensor unfaithful) : IDisposable
{
    public int Layer { get; } = layer;
    public Tensor Faithful { get; } = faithful;
    public Tensor Unfaithful { get; } = unfaithful;

    public void Dispose()
    {
        Faithful.Dispose();
        Unfaithful.Dispose();
    }
}

/// <summary>
/// Stacks the pooled vectors into per-layer <c>faithful</c> [n, d] and <c>unfaithful</c> [m, d] tensors, checks every
/// layer against <see cref="ActivationContract"/>, and only then writes the layer files and the manifest, so a
/// violation anywhere leaves nothing on disk.
/// </summary>
public sealed class ActivationAssembler(ActivationFileWriter writer, ILogger<ActivationAssembler> logger)
{
    /// <summary>Builds every layer's tensors; the caller disposes them. Rows of unequal length fail the d_model check.</summary>
    public IReadOnlyList<LayerActivations> Build(AssemblyRequest request)
    {
        var built = new List<LayerActivations>();
        try
        {
            foreach (var layer in request.Layers)
            {
                var faithful = Stack(request.FaithfulPairIds, layer, request.Vectors, request.Dtype);
                var unfaithful = Stack(request.UnfaithfulPairIds, layer, request.Vectors, request.Dtype);
                built.Add(new LayerActivations(layer, faithful, unfaithful));
                WarnIfNotFinite(layer, faithful, unfaithful);
            }
            return built;
        }
        catch
        {
            built.ForEach(b => b.Dispose());
            throw;
        }
    }

    /// <summary>
    /// Builds, validates all layers, writes <c>layer_{L}_activations.pt</c> for each, then the manifest from
    /// <paramref name="buildManifest"/> (called after the layer files, so its finish time covers them). Returns the paths written.
    /// </summary>
    public IReadOnlyList<string> AssembleAndWrite(AssemblyRequest request, string outDir, Func<Manifest>? buildManifest = null)
    {
        var layers = Build(request);
        try
        {
            // All checks before any write: a bad layer 24 must not leave layers 6-18 behind.
            foreach (var layer in layers)
            {
                ActivationContract.Validate(layer.Layer, layer.Faithful, layer.Unfaithful, request.Layers);
            }
            logger.LogInformation("All {LayerCount} layers pass the activation contract", layers.Count);

            var written = new List<string>();
            foreach (var layer in layers)
            {
                written.Add(writer.WriteLayer(outDir, layer.Layer, layer.Faithful, layer.Unfaithful));
            }
            if (buildManifest is not null)
            {
                written.Add(ManifestFile.Write(outDir, buildManifest()));
            }
            return written;
        }
        finally
        {
            foreach (var layer in layers)
            {
                layer.Dispose();
            }
        }
    }

    /// <summary>
    /// fp16 tops out at 65504 and Qwen2's residual stream has outlier dimensions that can pass it; the seed saves
    /// fp16 regardless, so this warns (the values become inf) rather than failing.
    /// </summary>
    void WarnIfNotFinite(int layer, Tensor faithful, Tensor unfaithful)
    {
        long count;
        using (NewDisposeScope())
        {
            count = faithful.isfinite().logical_not().sum().item<long>() + unfaithful.isfinite().logical_not().sum().item<long>();
        }
        if (count > 0)
        {
            logger.LogWarning("Layer {Layer}: {NonFiniteCount} activation values are inf or NaN in {Dtype}; float32 output keeps them finite",
                layer, count, faithful.dtype);
        }
    }

    static Tensor Stack(IReadOnlyList<string> pairIds, int layer, IPooledVectorSource vectors, ActivationDtype dtype)
    {
        if (pairIds.Count == 0)
        {
            // No rows: the contract's minimum-rows check reports it.
            return zeros([0, 0], dtype.ToScalarType());
        }
        var width = vectors.Get(pairIds[0], layer).Length;
        var data = new float[checked(pairIds.Count * width)];
        for (var row = 0; row < pairIds.Count; row++)
        {
            var vector = vectors.Get(pairIds[row], layer);
            if (vector.Length != width)
            {
                throw new ContractViolationException(ContractCheck.SameModelDimension, layer,
                    $"pair '{pairIds[row]}' has {vector.Length} values, pair '{pairIds[0]}' has {width}");
            }
            vector.Span.CopyTo(data.AsSpan(row * width, width));
        }
        using var float32 = tensor(data, [pairIds.Count, width], ScalarType.Float32);
        return float32.to_type(dtype.ToScalarType(), copy: true);
    }
}
