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
/// Assembles a job's files one hook at a time. First every hook is checked against <see cref="ActivationContract"/>
/// and the job's request from the vectors' lengths alone (membership, a vector for every pair, one width, enough
/// rows: no value read), so a violation anywhere leaves nothing on disk. Then, hook by hook, its vectors are read
/// straight into one preallocated tensor per class, its files written, and its tensors released before the next:
/// memory holds one hook, not the job.
/// </summary>
public sealed class ActivationAssembler(ActivationFileWriter writer, ILogger<ActivationAssembler> logger)
{
    /// <summary>
    /// Checks every hook, then builds and writes each hook's files in the requested formats, then the manifest from
    /// <paramref name="buildManifest"/> (called after the hook files, so its finish time covers them). Returns the paths written.
    /// </summary>
    public async Task<IReadOnlyList<string>> AssembleAndWriteAsync(AssemblyRequest request, string outDir, Func<Manifest>? buildManifest = null, CancellationToken cancellation = default)
    {
        var rows = Rows(request);
        await CheckAsync(request, rows, cancellation);
        logger.LogInformation("All {HookCount} hooks pass the activation contract", request.Hooks.Count);

        var written = new List<string>();
        foreach (var requested in request.Hooks.OrderBy(r => r.Hook))
        {
            using var hook = await BuildHookAsync(request, rows, requested, cancellation);
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

    /// <summary>One hook's tensor pair, read from the vectors (no checking pass first); the caller disposes it.</summary>
    public Task<HookActivations> BuildHookAsync(AssemblyRequest request, HookPoint hook, CancellationToken cancellation = default)
        => BuildHookAsync(request, Rows(request), ActivationContract.CheckRequested(hook, request.Hooks), cancellation);

    static HookRows Rows(AssemblyRequest request) => new("pair", request.FaithfulPairIds, request.UnfaithfulPairIds);

    /// <summary>
    /// The checking pass, in the order a full build would meet the problems: a hook the job did not ask for; then per
    /// hook, a pair without a vector or of another width than the class's first row; then the contract's shape checks.
    /// </summary>
    static async Task CheckAsync(AssemblyRequest request, HookRows rows, CancellationToken cancellation)
    {
        var hooks = request.Hooks.Select(r => r.Hook).Order().ToList();
        var (held, lengths) = await rows.LengthsAsync(request.Vectors, hooks, cancellation);
        foreach (var hook in held)
        {
            ActivationContract.CheckRequested(hook, request.Hooks);
        }
        var shapes = hooks.ToDictionary(h => h, h => lengths[h].Select((l, table) => Shape(h, rows.Tables[table], l)).ToArray());
        var dtype = request.Dtype.ToScalarType();
        foreach (var hook in hooks)
        {
            ActivationContract.Validate(hook, shapes[hook][0], shapes[hook][1], dtype, dtype, request.Hooks);
        }
    }

    /// <summary>[rows, width] of one class at one hook, from its vectors' lengths; no rows is [0, 0] (the minimum-rows check reports it).</summary>
    static long[] Shape(HookPoint hook, IReadOnlyList<string> pairIds, int[] lengths)
    {
        if (pairIds.Count == 0)
        {
            return [0, 0];
        }
        var width = lengths[0];
        for (var row = 0; row < pairIds.Count; row++)
        {
            if (lengths[row] < 0)
            {
                throw new ContractViolationException(ContractCheck.MissingHook, hook, $"pair '{pairIds[row]}' has no vector for it");
            }
            if (lengths[row] != width)
            {
                throw new ContractViolationException(ContractCheck.SameModelDimension, hook,
                    $"pair '{pairIds[row]}' has {lengths[row]} values, pair '{pairIds[0]}' has {width}");
            }
        }
        return [pairIds.Count, width];
    }

    async Task<HookActivations> BuildHookAsync(AssemblyRequest request, HookRows rows, RequestedHook requested, CancellationToken cancellation)
    {
        var tensors = await rows.ReadAsync(request.Vectors, requested.Hook, requested.Width, cancellation);
        var (faithful, unfaithful) = (tensors[0], tensors[1]);
        if (request.Dtype != ActivationDtype.Float32)
        {
            // One class at a time, so the float32 and the converted copy of both classes are never held together.
            (faithful, unfaithful) = (Convert(faithful, request.Dtype), Convert(unfaithful, request.Dtype));
        }
        if (request.Dtype == ActivationDtype.Float16)
        {
            // Float32 values are finite: results are validated when recorded. Only the conversion can overflow.
            WarnIfNotFinite(requested.Hook, faithful, unfaithful);
        }
        return new HookActivations(requested.Hook, faithful, unfaithful);
    }

    static Tensor Convert(Tensor float32, ActivationDtype dtype)
    {
        using (float32)
        {
            return float32.to_type(dtype.ToScalarType(), copy: true);
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
}
