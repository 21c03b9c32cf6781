namespace Activations.Contracts;

/// <summary>
/// What a job captures: the hook points, the pooling, the BOS policy, the token limit, and the device kind and
/// compute dtype. Built and validated once by the coordinator (device and dtype resolved, so asking for another dtype
/// is another job) and carried with every question; a worker validates it with the same <see cref="Validate"/> before
/// it touches its model.
/// </summary>
public sealed record CaptureSpec
{
    /// <summary>The hook points, sorted (layer, then forward order) and without repeats.</summary>
    public required IReadOnlyList<HookPoint> Hooks { get; init; }

    public Pooling Pooling { get; init; } = Pooling.Mean;

    public BosPolicy BosPolicy { get; init; } = BosPolicy.NoBos;

    /// <summary>Longest model input accepted, in tokens (never more than the model's context); null: the model's context length.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>
    /// The `run` command's default token limit: what a worker can hold (activations of a 1.5B model for a batch
    /// of such questions fit a 24 GB GPU), where the model's context (131,072 for Qwen2) would run it out of memory.
    /// </summary>
    public const int DefaultMaxTokens = 8192;

    /// <summary>The device kind the job computes on: <see cref="ComputeDevice.Auto"/> only before resolution.</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

    /// <summary>The compute dtype: <see cref="ComputeDtype.Auto"/> only before resolution.</summary>
    public ComputeDtype Dtype { get; init; } = ComputeDtype.Auto;

    /// <summary>Decoder layers the forward pass runs: up to the deepest hook's layer (0 for hook_embed alone).</summary>
    public int LayersNeeded => Hooks.Count == 0 ? 0 : Hooks.Max(h => h.LayersNeeded);

    /// <summary>Whether device and dtype are concrete (what a job key and a worker need).</summary>
    public bool IsResolved => Device != ComputeDevice.Auto && Dtype != ComputeDtype.Auto;

    /// <summary>
    /// Every check of the spec, in one place: hooks present, sorted, distinct and inside a model of
    /// <paramref name="layerCount"/> decoder layers (<paramref name="source"/> names it), a positive token limit,
    /// known enum values. Returns the spec, so it can be chained.
    /// </summary>
    public CaptureSpec Validate(int layerCount, string source)
    {
        if (Hooks.Count == 0)
        {
            throw new InvalidInputException("--hooks", "no hooks were asked for");
        }
        for (var i = 0; i < Hooks.Count; i++)
        {
            if (!Enum.IsDefined(Hooks[i].Kind) || (Hooks[i].Kind != HookKind.Embed && Hooks[i].Layer < 0))
            {
                throw new InvalidInputException("--hooks", $"'{Hooks[i]}' is not a hook point");
            }
            if (i > 0 && Hooks[i - 1].CompareTo(Hooks[i]) >= 0)
            {
                throw new InvalidInputException("--hooks", $"{Hooks[i]}: hooks must be sorted and listed once");
            }
            CheckInModel(Hooks[i], layerCount, source, "--hooks");
        }
        if (MaxTokens is < 1)
        {
            throw new InvalidInputException("--max-tokens", "must be at least 1");
        }
        foreach (var (value, option) in new (Enum, string)[] { (Pooling, "--pooling"), (BosPolicy, "--prepend-bos"), (Device, "--device"), (Dtype, "--dtype") })
        {
            if (!Enum.IsDefined(value.GetType(), value))
            {
                throw new InvalidInputException(option, $"unknown value {value}");
            }
        }
        return this;
    }

    /// <summary>The one layer-range rule: a hook's layer must be one the model has.</summary>
    public static void CheckInModel(HookPoint hook, int layerCount, string source, string option)
    {
        if (hook.Kind != HookKind.Embed && hook.Layer >= layerCount)
        {
            var what = option == "--layers" ? $"layer {hook.Layer}" : $"{hook}: layer {hook.Layer}";
            throw new InvalidInputException(option, $"{what} is outside the model ({source} has layers 0..{layerCount - 1})");
        }
    }
}
