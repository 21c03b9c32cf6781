using static TorchSharp.torch;

namespace Activations.Coordinator.Assembly;

/// <summary>
/// The seed's ActivationCache checks on one layer's tensors: what the probe-training step relies on.
/// The layer set is the requested one rather than the seed's fixed [6, 12, 18, 24], since layers are an option here.
/// </summary>
public static class ActivationContract
{
    /// <summary>Enough rows per class for a train/test split (the seed's minimum).</summary>
    public const int MinRowsPerClass = 10;

    public static void Validate(int layer, Tensor faithful, Tensor unfaithful, IReadOnlyCollection<int> requestedLayers)
    {
        if (faithful.dim() != 2 || unfaithful.dim() != 2)
        {
            throw new ContractViolationException(ContractCheck.TwoDimensional, layer,
                $"faithful has shape {Shape(faithful)}, unfaithful has shape {Shape(unfaithful)}; expected [n, d_model]");
        }
        if (faithful.shape[0] < MinRowsPerClass)
        {
            throw new ContractViolationException(ContractCheck.MinFaithfulRows, layer,
                $"{faithful.shape[0]} faithful rows, at least {MinRowsPerClass} are required");
        }
        if (unfaithful.shape[0] < MinRowsPerClass)
        {
            throw new ContractViolationException(ContractCheck.MinUnfaithfulRows, layer,
                $"{unfaithful.shape[0]} unfaithful rows, at least {MinRowsPerClass} are required");
        }
        if (faithful.shape[1] != unfaithful.shape[1])
        {
            throw new ContractViolationException(ContractCheck.SameModelDimension, layer,
                $"faithful d_model is {faithful.shape[1]}, unfaithful d_model is {unfaithful.shape[1]}");
        }
        if (!IsAllowed(faithful.dtype) || !IsAllowed(unfaithful.dtype))
        {
            throw new ContractViolationException(ContractCheck.FloatDtype, layer,
                $"faithful is {faithful.dtype}, unfaithful is {unfaithful.dtype}");
        }
        if (!requestedLayers.Contains(layer))
        {
            throw new ContractViolationException(ContractCheck.RequestedLayer, layer,
                $"requested layers are [{string.Join(", ", requestedLayers)}]");
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

    static bool IsAllowed(ScalarType dtype) => dtype is ScalarType.Float32 or ScalarType.Float16;

    static string Shape(Tensor tensor) => $"[{string.Join(", ", tensor.shape)}]";
}
