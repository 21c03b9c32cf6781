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

/// <summary>A layer's tensors (or the selection, before any work) break the activation contract; raised before anything is written.</summary>
public sealed class ContractViolationException : Exception
{
    /// <summary>The seed's wording, kept so logs and scripts that grep for it still match.</summary>
    public const string MessagePrefix = "Phase 3 Contract Violation: ";

    public ContractViolationException(ContractCheck check, int layer, string detail)
        : this(check, layer, $"layer {layer}: {detail}", true)
    {
    }

    ContractViolationException(ContractCheck check, int? layer, string where, bool _)
        : base($"{MessagePrefix}{CheckName(check)}: {where}")
    {
        Check = check;
        Layer = layer;
    }

    /// <summary>The selection alone already breaks the contract: refused before the store or any forward pass.</summary>
    public static ContractViolationException ForSelection(ContractCheck check, string detail) => new(check, null, detail, true);

    public ContractCheck Check { get; }

    /// <summary>The layer whose tensors broke the contract; null when the selection did, before any layer existed.</summary>
    public int? Layer { get; }

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
