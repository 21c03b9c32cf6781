namespace Activations.Contracts.Messages;

/// <summary>One question of a job, sent to the queue of the job's model (see <see cref="QueueNames"/>).</summary>
public sealed record CaptureQuestion
{
    public required Guid JobId { get; init; }

    /// <summary>The question's index in its job: with <see cref="JobId"/>, what makes a result idempotent.</summary>
    public required int QuestionIndex { get; init; }

    public required string PairId { get; init; }

    public required string Text { get; init; }

    /// <summary>The content fingerprint of the model the job runs: a worker never answers for another model.</summary>
    public required string ModelFingerprint { get; init; }

    /// <summary>What to capture, validated and resolved by the coordinator; the worker validates it again before computing.</summary>
    public required CaptureSpec Spec { get; init; }

    /// <summary>Largest batch the job wants per forward pass; null: the worker's own choice.</summary>
    public int? BatchSize { get; init; }
}
