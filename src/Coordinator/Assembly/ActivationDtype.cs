using Activations.Contracts;
using TorchSharp;

namespace Activations.Coordinator.Assembly;

/// <summary>The element type of the saved tensors; the contract allows only these two.</summary>
public enum ActivationDtype
{
    Float32,
    Float16,
}

public static class ActivationDtypes
{
    /// <summary>
    /// The file dtype for a resolved compute dtype: fp16 stays fp16, everything else is float32
    /// (bf16 is not allowed by the contract, and float32 holds every bf16 value exactly).
    /// </summary>
    public static ActivationDtype ForCompute(ComputeDtype resolved) => resolved switch
    {
        ComputeDtype.Float16 => ActivationDtype.Float16,
        ComputeDtype.Float32 or ComputeDtype.BFloat16 => ActivationDtype.Float32,
        _ => throw new ArgumentException("resolve Auto to a concrete dtype first", nameof(resolved)),
    };

    public static torch.ScalarType ToScalarType(this ActivationDtype dtype) =>
        dtype == ActivationDtype.Float16 ? torch.ScalarType.Float16 : torch.ScalarType.Float32;

    public static string Name(this ActivationDtype dtype) => dtype == ActivationDtype.Float16 ? "float16" : "float32";
}
