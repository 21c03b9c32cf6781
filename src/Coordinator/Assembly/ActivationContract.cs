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

    static bool IsAllowed(ScalarType dtype) => dtype is ScalarType.Float32 or ScalarType.Float16;

    static string Shape(Tensor tensor) => $"[{string.Join(", ", tensor.shape)}]";
}
