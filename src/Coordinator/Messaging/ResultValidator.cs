using Activations.Contracts;
using Activations.Contracts.Messages;

namespace Activations.Coordinator.Messaging;

/// <summary>What a job expects of every result: read from the store once per batch of results.</summary>
/// <param name="Widths">hook name → the width its vector must have (the job's job_hooks rows)</param>
/// <param name="PairIds">question index → pair id, for the questions of the job</param>
public sealed record ResultExpectation(Guid JobId, string Status, string ModelFingerprint, int QuestionCount, IReadOnlyDictionary<string, int> Widths, IReadOnlyDictionary<int, string> PairIds);

/// <summary>
/// Checks one result against its job before anything is stored: the job exists and runs, the question is one of
/// its own, the model is the job's, the hooks are exactly the job's with the widths it expects (byte length
/// included), every value is finite, the dtype is one a worker computes in, and the strings are bounded and free
/// of NUL. A pure function of the result and the expectation: the store calls it, and so can any faster result path.
/// </summary>
public static class ResultValidator
{
    /// <summary>The longest pair id, worker or device name accepted.</summary>
    public const int MaxTextLength = 256;

    /// <summary>The dtype names a worker reports (<see cref="OptionNames.Of(ComputeDtype)"/>); the longest is 8 characters.</summary>
    public static readonly IReadOnlySet<string> Dtypes = new HashSet<string>(
        Enum.GetValues<ComputeDtype>().Where(d => d != ComputeDtype.Auto).Select(OptionNames.Of), StringComparer.Ordinal);

    /// <summary>Why <paramref name="result"/> must not be stored, or null when it may be.</summary>
    public static string? Problem(QuestionActivationsCaptured result, ResultExpectation? job)
    {
        if (job is null || job.JobId != result.JobId)
        {
            return $"job {result.JobId} does not exist";
        }
        if (job.Status != Store.JobStatus.Running)
        {
            return $"job {result.JobId} is {job.Status}, not running";
        }
        if (result.QuestionIndex < 0 || result.QuestionIndex >= job.QuestionCount)
        {
            return $"question {result.QuestionIndex} is not one of the job's {job.QuestionCount}";
        }
        foreach (var (name, value, limit) in new[] { ("pair id", result.PairId, MaxTextLength), ("worker", result.Worker, MaxTextLength), ("device", result.Device, MaxTextLength), ("dtype", result.Dtype, MaxTextLength) })
        {
            if (Text(name, value, limit) is { } problem)
            {
                return problem;
            }
        }
        if (!job.PairIds.TryGetValue(result.QuestionIndex, out var pairId) || pairId != result.PairId)
        {
            return $"question {result.QuestionIndex} is pair {pairId}, not {Shown(result.PairId)}";
        }
        if (result.ModelFingerprint != job.ModelFingerprint)
        {
            return $"computed by model {Shown(result.ModelFingerprint)}; the job runs {job.ModelFingerprint}";
        }
        if (!Dtypes.Contains(result.Dtype))
        {
            return $"dtype {Shown(result.Dtype)} is not one of {string.Join(", ", Dtypes)}";
        }
        if (result.TokenCount < 1)
        {
            return $"token count {result.TokenCount} is below 1";
        }
        if (result.Vectors is null || result.Vectors.Count != job.Widths.Count)
        {
            return $"{result.Vectors?.Count ?? 0} vectors; the job asked for {job.Widths.Count} hooks ({string.Join(", ", job.Widths.Keys)})";
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var vector in result.Vectors)
        {
            var hook = vector.Hook.Name;
            if (!job.Widths.TryGetValue(hook, out var width))
            {
                return $"hook {Shown(hook)} is not one the job asked for";
            }
            if (!seen.Add(hook))
            {
                return $"hook {hook} appears twice";
            }
            if (vector.Values is null || vector.Values.Length != width * sizeof(float))
            {
                return $"hook {hook}: {vector.Values?.Length ?? 0} bytes, expected {width * sizeof(float)} ({width} float32 values)";
            }
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(vector.Values);
            for (var i = 0; i < values.Length; i++)
            {
                if (!float.IsFinite(values[i]))
                {
                    return $"hook {hook}: value {i} is {values[i]}";
                }
            }
        }
        return null;
    }

    static string? Text(string name, string? value, int limit) => value switch
    {
        null => $"no {name}",
        { Length: 0 } => $"empty {name}",
        _ when value.Length > limit => $"{name} of {value.Length} characters (at most {limit})",
        _ when value.Contains('\0') => $"{name} holds a NUL character",
        _ => null,
    };

    /// <summary>A value from a message, safe to log: at most 64 characters, control characters escaped.</summary>
    static string Shown(string? value)
    {
        if (value is null)
        {
            return "(none)";
        }
        var cut = value.Length > 64 ? value[..64] + "…" : value;
        return "'" + string.Concat(cut.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString())) + "'";
    }
}
