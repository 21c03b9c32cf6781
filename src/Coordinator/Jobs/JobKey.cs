using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Activations.Contracts;
using Activations.Coordinator.Store;

namespace Activations.Coordinator.Jobs;

/// <summary>
/// The identity of a job: everything that decides its output (the model's content, the settings that change
/// vectors, the questions in order). Rerunning `run` with the same inputs and options finds the same job and
/// resumes it; changing any of them starts a new one.
/// </summary>
public static class JobKey
{
    public static string Compute(CaptureSettings settings, string modelFingerprint, IEnumerable<QuestionRecord> questions)
    {
        var identity = new
        {
            model = modelFingerprint,
            layers = settings.Layers,
            pooling = OptionNames.Of(settings.Pooling),
            bos = OptionNames.Of(settings.BosPolicy),
            dtype = OptionNames.Of(settings.Dtype),
            max_tokens = settings.MaxTokens,
            questions = questions.Select(q => new[] { q.Label, q.PairId, q.Text }),
        };
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(identity))));
    }
}
