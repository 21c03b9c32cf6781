namespace Activations.Contracts.Messages;

/// <summary>
/// A worker's answer for one consumed batch: every question's result or failure in one message, so the broker,
/// the worker and the coordinator handle one message per batch rather than one per question.
/// </summary>
public sealed record QuestionsAnswered
{
    public required IReadOnlyList<QuestionActivationsCaptured> Results { get; init; }

    public required IReadOnlyList<QuestionCaptureFailed> Failures { get; init; }
}
