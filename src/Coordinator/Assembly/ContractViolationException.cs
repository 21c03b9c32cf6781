using Activations.Contracts;

namespace Activations.Coordinator.Assembly;

/// <summary>The seed's six ActivationCache checks, in the order they run, then the hook checks this project adds.</summary>
public enum ContractCheck
{
    TwoDimensional,
    MinFaithfulRows,
    MinUnfaithfulRows,
    SameModelDimension,
    FloatDtype,
    /// <summary>The results hold a hook the job did not ask for (the seed's "layer in the requested set").</summary>
    RequestedHook,
    /// <summary>A hook the job asked for is missing from a result.</summary>
    MissingHook,
    /// <summary>A hook's vectors are not as wide as the job expects from the model (hidden_size, or n_heads * d_head for hook_z).</summary>
    ExpectedWidth,
}

/// <summary>A hook's tensors (or the selection, before any work) break the activation contract; raised before anything is written.</summary>
public sealed class ContractViolationException : Exception
{
    /// <summary>The seed's wording, kept so logs and scripts that grep for it still match.</summary>
    public const string MessagePrefix = "Phase 3 Contract Violation: ";

    public ContractViolationException(ContractCheck check, HookPoint hook, string detail)
        : base($"{MessagePrefix}{CheckName(check)}: {Where(hook)}: {detail}")
    {
        Check = check;
        Hook = hook;
    }

    ContractViolationException(ContractCheck check, string detail)
        : base($"{MessagePrefix}{CheckName(check)}: {detail}")
    {
        Check = check;
    }

    /// <summary>The selection alone already breaks the contract: refused before the store or any forward pass.</summary>
    public static ContractViolationException ForSelection(ContractCheck check, string detail) => new(check, detail);

    public ContractCheck Check { get; }

    /// <summary>The hook whose tensors broke the contract; null when the selection did, before any tensor existed.</summary>
    public HookPoint? Hook { get; }

    /// <summary>blocks.L.hook_resid_post is named as the seed names it ("layer L"); every other hook by its name.</summary>
    static string Where(HookPoint hook) => hook.Kind == HookKind.ResidPost ? $"layer {hook.Layer}" : hook.Name;

    public static string CheckName(ContractCheck check) => check switch
    {
        ContractCheck.TwoDimensional => "tensors must be 2D",
        ContractCheck.MinFaithfulRows => "too few faithful samples",
        ContractCheck.MinUnfaithfulRows => "too few unfaithful samples",
        ContractCheck.SameModelDimension => "d_model mismatch",
        ContractCheck.FloatDtype => "dtype must be float32 or float16",
        ContractCheck.RequestedHook => "hook not requested",
        ContractCheck.MissingHook => "hook missing from a result",
        ContractCheck.ExpectedWidth => "width differs from the model's",
        _ => throw new ArgumentOutOfRangeException(nameof(check)),
    };
}
