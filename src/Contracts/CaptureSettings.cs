namespace Activations.Contracts;

/// <summary>
/// What a job asks of the engine. Validated once by the coordinator and carried with every question,
/// so a worker computes exactly what the job asked for.
/// </summary>
public sealed record CaptureSettings
{
    /// <summary>A local model folder or a Hub id (org/name).</summary>
    public required string Model { get; init; }

    /// <summary>Hub revision (branch, tag or commit); null for a local folder or the default branch.</summary>
    public string? Revision { get; init; }

    /// <summary>0-based decoder layers whose output (blocks.L.hook_resid_post) is captured, ascending.</summary>
    public required IReadOnlyList<int> Layers { get; init; }

    public Pooling Pooling { get; init; } = Pooling.Mean;

    public BosPolicy BosPolicy { get; init; } = BosPolicy.NoBos;

    public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

    public ComputeDtype Dtype { get; init; } = ComputeDtype.Auto;

    /// <summary>Longest model input accepted, in tokens (never more than the model's context); null: the model's context length.</summary>
    public int? MaxTokens { get; init; }

    public static readonly IReadOnlyList<int> DefaultLayers = [6, 12, 18, 24];

    /// <summary>
    /// The `run` command's default token limit: what a worker can hold (activations of a 1.5B model for a batch
    /// of such questions fit a 24 GB GPU), where the model's context (131,072 for Qwen2) would run it out of memory.
    /// </summary>
    public const int DefaultMaxTokens = 8192;

    /// <summary>
    /// The checks that need no model: the coordinator runs them before any work, and a worker again on receipt.
    /// Layers against the model's depth are checked where the model is known.
    /// </summary>
    public CaptureSettings Validate()
    {
        if (string.IsNullOrWhiteSpace(Model))
        {
            throw new InvalidInputException("--model", "no model was given");
        }
        if (Layers.Count == 0)
        {
            throw new InvalidInputException("--layers", "no layers were asked for");
        }
        if (Layers.FirstOrDefault(l => l < 0) is var negative && negative < 0)
        {
            throw new InvalidInputException("--layers", $"layer {negative} is negative");
        }
        if (Layers.Distinct().Count() != Layers.Count)
        {
            throw new InvalidInputException("--layers", $"a layer is listed twice ({string.Join(",", Layers)})");
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
}
