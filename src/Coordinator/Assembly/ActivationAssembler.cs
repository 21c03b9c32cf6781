using Activations.Contracts;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Activations.Coordinator.Assembly;

/// <summary>
/// What to assemble: the hooks the job asked for (with their widths), each class's pair ids in row order, where the
/// vectors are, the file dtype, the formats to write and the safetensors header's metadata.
/// </summary>
public sealed record AssemblyRequest(
    IReadOnlyList<RequestedHook> Hooks,
    IReadOnlyList<string> FaithfulPairIds,
    IReadOnlyList<string> UnfaithfulPairIds,
    IPooledVectorSource Vectors,
    ActivationDtype Dtype)
{
    public OutputFormats Formats { get; init; } = OutputFormats.Pt;

    /// <summary>Written into each .safetensors header's __metadata__, with the hook's name.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
}

/// <summary>One hook's stacked activations; owns its tensors.</summary>
public sealed class HookActivations(HookPoint hook, Tensor faithful, Tensor unfaithful) : IDisposable
{
    public HookPoint Hook { get; } = hook;
    public Tensor Faithful { get; } = faithful;
    public Tensor Unfaithful { get; } = unfaithful;

    public void Dispose()
    {
        Faithful.Dispose();
        Unfaithful.Dispose();
    }
}

/// <summary>
/// Stacks the pooled vectors into per-hook <c>faithful</c> [n, d] and <c>unfaithful</c> [m, d] tensors, checks every
/// hook the results hold against <see cref="ActivationContract"/> and the job's request, and only then writes the
/// files and the manifest, so a violation anywhere leaves nothing on disk.
/// </summary>
public sealed class ActivationAssembler(ActivationFileWriter writer, ILogger<ActivationAssembler> logger)
{
    /// <summary>
    /// Builds a tensor pair for every hook the job asked for; the caller disposes them. A result holding a hook the job
    /// did not ask for, or a pair without a vector for a requested hook, is a contract violation; rows of unequal width
    /// fail the d_model check.
    /// </summary>
    public IReadOnlyList<HookActivations> Build(AssemblyRequest request)
    {
        var built = new List<HookActivations>();
        try
        {
            // What the results hold against what the job asked for, before any stacking.
            foreach (var held in request.Vectors.Hooks)
            {
                ActivationContract.CheckRequested(held, request.Hooks);
            }
            foreach (var hook in request.Hooks.Select(r => r.Hook).Order())
            {
                var faithful = Stack(request.FaithfulPairIds, hook, request.Vectors, request.Dtype);
                var unfaithful = Stack(request.UnfaithfulPairIds, hook, request.Vectors, request.Dtype);
                built.Add(new HookActivations(hook, faithful, unfaithful));
                WarnIfNotFinite(hook, faithful, unfaithful);
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
    /// Builds, validates every hook, writes each hook's files in the requested formats, then the manifest from
    /// <paramref name="buildManifest"/> (called after the hook files, so its finish time covers them). Returns the paths written.
    /// </summary>
    public IReadOnlyList<string> AssembleAndWrite(AssemblyRequest request, string outDir, Func<Manifest>? buildManifest = null)
    {
        var hooks = Build(request);
        try
        {
            // All checks before any write: a bad layer 24 must not leave layers 6-18 behind.
            foreach (var hook in hooks)
            {
                ActivationContract.Validate(hook.Hook, hook.Faithful, hook.Unfaithful, request.Hooks);
            }
            logger.LogInformation("All {HookCount} hooks pass the activation contract", hooks.Count);

            var written = new List<string>();
            foreach (var hook in hooks)
            {
                if (request.Formats.HasFlag(OutputFormats.Pt))
                {
                    written.Add(writer.WriteHook(outDir, hook.Hook, hook.Faithful, hook.Unfaithful));
                }
                if (request.Formats.HasFlag(OutputFormats.Safetensors))
                {
                    var metadata = new Dictionary<string, string>(request.Metadata) { ["hook"] = hook.Hook.Name };
                    written.Add(writer.WriteSafetensors(outDir, hook.Hook, hook.Faithful, hook.Unfaithful, metadata));
                }
            }
            if (buildManifest is not null)
            {
                written.Add(ManifestFile.Write(outDir, buildManifest()));
            }
            return written;
        }
        finally
        {
            foreach (var hook in hooks)
            {
                hook.Dispose();
            }
        }
    }

    /// <summary>
    /// fp16 tops out at 65504 and Qwen2's residual stream has outlier dimensions that can pass it; the seed saves
    /// fp16 regardless, so this warns (the values become inf) rather than failing.
    /// </summary>
    void WarnIfNotFinite(HookPoint hook, Tensor faithful, Tensor unfaithful)
    {
        long count;
        using (NewDisposeScope())
        {
            count = faithful.isfinite().logical_not().sum().item<long>() + unfaithful.isfinite().logical_not().sum().item<long>();
        }
        if (count > 0)
        {
            logger.LogWarning("{Hook}: {NonFiniteCount} activation values are inf or NaN in {Dtype}; float32 output keeps them finite",
                hook.Kind == HookKind.ResidPost ? $"Layer {hook.Layer}" : hook.Name, count, faithful.dtype);
        }
    }

    static Tensor Stack(IReadOnlyList<string> pairIds, HookPoint hook, IPooledVectorSource vectors, ActivationDtype dtype)
    {
        if (pairIds.Count == 0)
        {
            // No rows: the contract's minimum-rows check reports it.
            return zeros([0, 0], dtype.ToScalarType());
        }
        var first = Vector(vectors, pairIds[0], hook);
        var width = first.Length;
        var data = new float[checked(pairIds.Count * width)];
        for (var row = 0; row < pairIds.Count; row++)
        {
            var vector = row == 0 ? first : Vector(vectors, pairIds[row], hook);
            if (vector.Length != width)
            {
                throw new ContractViolationException(ContractCheck.SameModelDimension, hook,
                    $"pair '{pairIds[row]}' has {vector.Length} values, pair '{pairIds[0]}' has {width}");
            }
            vector.Span.CopyTo(data.AsSpan(row * width, width));
        }
        using var float32 = tensor(data, [pairIds.Count, width], ScalarType.Float32);
        return float32.to_type(dtype.ToScalarType(), copy: true);
    }

    static ReadOnlyMemory<float> Vector(IPooledVectorSource vectors, string pairId, HookPoint hook)
        => vectors.TryGet(pairId, hook, out var vector)
            ? vector
            : throw new ContractViolationException(ContractCheck.MissingHook, hook, $"pair '{pairId}' has no vector for it");
}
