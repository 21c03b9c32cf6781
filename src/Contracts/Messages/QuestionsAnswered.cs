namespace Activations.Contracts.Messages;

/// <summary>
/// A worker's answer for one consumed batch: every question's result or failure in one message, so the broker,
/// the worker and the coordinator handle one message per batch rather than one per question. A reply holds one
/// job's answers (a batch mixing jobs is answered once per job): it is routed to that job's coordinator alone.
/// </summary>
public sealed record QuestionsAnswered
{
    public required Guid JobId { get; init; }

    public required IReadOnlyList<QuestionActivationsCaptured> Results { get; init; }

    public required IReadOnlyList<QuestionCaptureFailed> Failures { get; init; }
}
