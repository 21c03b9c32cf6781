using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Activations.Contracts;
using Activations.Coordinator.Store;

namespace Activations.Coordinator.Jobs;

/// <summary>
/// The identity of a job: everything that decides its output (the model's content, the capture spec with its
/// resolved device kind and compute dtype, the questions in order): asking for another dtype is another job. Rerunning `run` with the same inputs and options finds the same job and
/// resumes it; changing any of them starts a new one.
/// </summary>
public static class JobKey
{
    /// <param name="inputs">what the questions were read from, when more than the questions decides the output
    /// (`capture`: the prompt file's hash, the fields, the template); null for `run`, whose key stays as it was</param>
    public static string Compute(CaptureSpec spec, string modelFingerprint, IEnumerable<QuestionRecord> questions, object? inputs = null)
    {
        if (!spec.IsResolved)
        {
            throw new ArgumentException("a job key needs the resolved device kind and dtype", nameof(spec));
        }
        var identity = new
        {
            model = modelFingerprint,
            hooks = spec.Hooks.Select(h => h.Name),
            pooling = OptionNames.Of(spec.Pooling),
            bos = OptionNames.Of(spec.BosPolicy),
            device = OptionNames.Of(spec.Device),
            dtype = OptionNames.Of(spec.Dtype),
            max_tokens = spec.MaxTokens,
            questions = questions.Select(q => new[] { q.Label, q.PairId, q.Text }),
        };
        var json = inputs is null ? JsonSerializer.Serialize(identity) : JsonSerializer.Serialize(new { identity, inputs });
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));
    }
}
