namespace Activations.Contracts.Messages;

/// <summary>A question the worker cannot capture (for example longer than the token limit), with the reason.</summary>
public sealed record QuestionCaptureFailed
{
    public required Guid JobId { get; init; }

    public required int QuestionIndex { get; init; }

    public required string PairId { get; init; }

    public required string Reason { get; init; }

    public required string Worker { get; init; }
}
