using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.Worker.Capture;

namespace Activations.Worker.Messaging;

/// <summary>
/// Every question message is checked before anything touches the model: it is for the model this worker holds, its
/// fields are sane, and its capture spec passes the shared validation (<see cref="CaptureSpec.Validate"/>, through
/// <see cref="IEngineHost.Check"/>, against this model's depth and device). A bad message is answered as a failure
/// with the reason, alone; it can neither fault the good questions of its batch nor make the worker reload its model.
/// </summary>
public static class QuestionValidator
{
    /// <summary>The longest pair id accepted.</summary>
    public const int MaxPairIdLength = 256;

    /// <summary>Why the worker must not run <paramref name="question"/>, or null when it may.</summary>
    public static string? Problem(CaptureQuestion question, IEngineHost host)
    {
        if (question.ModelFingerprint != host.Fingerprint)
        {
            return $"this worker holds model {host.Fingerprint}; the question is for model {Shown(question.ModelFingerprint)}";
        }
        if (question.QuestionIndex < 0)
        {
            return $"question index {question.QuestionIndex} is negative";
        }
        if (string.IsNullOrEmpty(question.PairId) || question.PairId.Length > MaxPairIdLength || question.PairId.Contains('\0'))
        {
            return $"pair id {Shown(question.PairId)} is empty, longer than {MaxPairIdLength} characters, or holds a NUL";
        }
        if (string.IsNullOrWhiteSpace(question.Text))
        {
            return "the question's text is empty";
        }
        if (question.BatchSize is < 1)
        {
            return $"batch size {question.BatchSize} is below 1";
        }
        if (question.Spec is null)
        {
            return "the question carries no capture spec";
        }
        try
        {
            host.Check(question.Spec);
            return null;
        }
        catch (InvalidInputException e)
        {
            return $"this worker cannot run the job's capture spec: {e.Message}";
        }
    }

    /// <summary>What makes two questions share a forward pass: the same job and the same spec (by value).</summary>
    public static string BatchKey(CaptureQuestion question)
        => $"{question.JobId}/{System.Text.Json.JsonSerializer.Serialize(question.Spec)}";

    static string Shown(string? value) => value is null ? "(none)"
        : "'" + string.Concat((value.Length > 64 ? value[..64] + "…" : value).Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString())) + "'";
}
