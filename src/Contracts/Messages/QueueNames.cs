namespace Activations.Contracts.Messages;

public static class QueueNames
{
    /// <summary>
    /// Questions go to one queue per model, so a worker only ever sees questions for the model it holds.
    /// </summary>
    public static string CaptureQuestions(string modelFingerprint) => $"capture-question-{modelFingerprint}";

    /// <summary>The coordinators' queue of results.</summary>
    public const string Results = "question-results";
}
