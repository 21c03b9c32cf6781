namespace Activations.Coordinator.Assembly;

/// <summary>The six checks of the seed's ActivationCache contract, in the order they run.</summary>
public enum ContractCheck
{
    TwoDimensional,
    MinFaithfulRows,
    MinUnfaithfulRows,
    SameModelDimension,
    FloatDtype,
    RequestedLayer,
}

/// <summary>A layer's tensors break the activation contract; raised before anything is written.</summary>
public sealed class ContractViolationException(ContractCheck check, int layer, string detail)
    : Exception($"{MessagePrefix}{CheckName(check)}: layer {layer}: {detail}")
{
    /// <summary>The seed's wording, kept so logs and scripts that grep for it still match.</summary>
    public const string MessagePrefix = "Phase 3 Contract Violation: ";

    public ContractCheck Check { get; } = check;
    public int Layer { get; } = layer;

    public static string CheckName(ContractCheck check) => check switch
    {
        ContractCheck.TwoDimensional => "tensors must be 2D",
        ContractCheck.MinFaithfulRows => "too few faithful samples",
        ContractCheck.MinUnfaithfulRows => "too few unfaithful samples",
        ContractCheck.SameModelDimension => "d_model mismatch",
        ContractCheck.FloatDtype => "dtype must be float32 or float16",
        ContractCheck.RequestedLayer => "layer not requested",
        _ => throw new ArgumentOutOfRangeException(nameof(check)),
    };
}
