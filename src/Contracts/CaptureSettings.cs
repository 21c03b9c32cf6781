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

    /// <summary>Longest model input accepted, in tokens; null: the model's context length.</summary>
    public int? MaxTokens { get; init; }

    public static readonly IReadOnlyList<int> DefaultLayers = [6, 12, 18, 24];
}
