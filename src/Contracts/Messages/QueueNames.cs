namespace Activations.Contracts.Messages;

public static class QueueNames
{
    /// <summary>
    /// Questions go to one queue per model, so a worker only ever sees questions for the model it holds.
    /// </summary>
    public static string CaptureQuestions(string modelFingerprint) => $"capture-question-{modelFingerprint}";

    /// <summary>
    /// Where a worker moves questions that a lost worker held (the broker counted a delivery that was never
    /// acknowledged): each runs alone there, so a question that kills the process takes no other with it.
    /// </summary>
    public static string IsolatedQuestions(string modelFingerprint) => $"capture-question-{modelFingerprint}-isolated";

    /// <summary>
    /// The queue of one job's results, consumed by that job's coordinator alone (workers reply to the job's routing
    /// key: see ReplyTopology), so concurrent jobs never take each other's results.
    /// </summary>
    public static string Results(Guid jobId) => $"question-results-{jobId:N}";
}
