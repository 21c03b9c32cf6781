using Activations.Contracts;
using static TorchSharp.torch;

namespace Activations.Coordinator.Assembly;

/// <summary>A hook the job asked for and the width each of its vectors must have.</summary>
public sealed record RequestedHook(HookPoint Hook, int Width);

/// <summary>
/// The seed's ActivationCache checks on one hook's tensors: what the probe-training step relies on. The seed's
/// "layer in the requested set" becomes: the hook is one the job asked for, at the width the job expects.
/// </summary>
public static class ActivationContract
{
    /// <summary>Enough rows per class for a train/test split (the seed's minimum).</summary>
    public const int MinRowsPerClass = 10;

    public static void Validate(HookPoint hook, Tensor faithful, Tensor unfaithful, IReadOnlyCollection<RequestedHook> requested)
        => Validate(hook, faithful.shape, unfaithful.shape, faithful.dtype, unfaithful.dtype, requested);

    /// <summary>
    /// The same checks on the shapes and dtypes alone, so assembly can check every hook from the vectors' lengths
    /// before it reads any value or writes any file.
    /// </summary>
    public static void Validate(HookPoint hook, long[] faithful, long[] unfaithful, ScalarType faithfulDtype, ScalarType unfaithfulDtype, IReadOnlyCollection<RequestedHook> requested)
    {
        if (faithful.Length != 2 || unfaithful.Length != 2)
        {
            throw new ContractViolationException(ContractCheck.TwoDimensional, hook,
                $"faithful has shape {Shape(faithful)}, unfaithful has shape {Shape(unfaithful)}; expected [n, d_model]");
        }
        if (faithful[0] < MinRowsPerClass)
        {
            throw new ContractViolationException(ContractCheck.MinFaithfulRows, hook,
                $"{faithful[0]} faithful rows, at least {MinRowsPerClass} are required");
        }
        if (unfaithful[0] < MinRowsPerClass)
        {
            throw new ContractViolationException(ContractCheck.MinUnfaithfulRows, hook,
                $"{unfaithful[0]} unfaithful rows, at least {MinRowsPerClass} are required");
        }
        if (faithful[1] != unfaithful[1])
        {
            throw new ContractViolationException(ContractCheck.SameModelDimension, hook,
                $"faithful d_model is {faithful[1]}, unfaithful d_model is {unfaithful[1]}");
        }
        if (!IsAllowed(faithfulDtype) || !IsAllowed(unfaithfulDtype))
        {
            throw new ContractViolationException(ContractCheck.FloatDtype, hook,
                $"faithful is {faithfulDtype}, unfaithful is {unfaithfulDtype}");
        }
        var asked = CheckRequested(hook, requested);
        if (faithful[1] != asked.Width)
        {
            throw new ContractViolationException(ContractCheck.ExpectedWidth, hook,
                $"{faithful[1]} values per row, the job expects {asked.Width}");
        }
    }

    /// <summary>
    /// The row counts a selection will give every layer, checked before the store is created or any forward pass
    /// runs: a selection that cannot meet the contract is refused while the output folder is still untouched.
    /// </summary>
    public static void ValidateSelection(int faithful, int unfaithful)
    {
        if (faithful < MinRowsPerClass)
        {
            throw ContractViolationException.ForSelection(ContractCheck.MinFaithfulRows,
                $"the selection has {faithful} faithful pairs, at least {MinRowsPerClass} are required");
        }
        if (unfaithful < MinRowsPerClass)
        {
            throw ContractViolationException.ForSelection(ContractCheck.MinUnfaithfulRows,
                $"the selection has {unfaithful} unfaithful pairs, at least {MinRowsPerClass} are required");
        }
    }

    /// <summary>The membership check: <paramref name="hook"/> (one the results hold) must be one the job asked for.</summary>
    public static RequestedHook CheckRequested(HookPoint hook, IReadOnlyCollection<RequestedHook> requested)
        => requested.FirstOrDefault(r => r.Hook == hook)
            ?? throw new ContractViolationException(ContractCheck.RequestedHook, hook,
                $"the job asked for [{string.Join(", ", requested.Select(r => r.Hook))}]");

    static bool IsAllowed(ScalarType dtype) => dtype is ScalarType.Float32 or ScalarType.Float16;

    static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";
}
