namespace Activations.Coordinator.Store;

public static class JobStatus
{
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
}

/// <summary>One run of the pipeline over one selection of questions with one set of settings.</summary>
public sealed class JobRecord
{
    public Guid Id { get; set; }

    /// <summary>A hash of everything that decides the output: rerunning with the same inputs and options finds this job again.</summary>
    public required string Key { get; set; }

    public required string SettingsJson { get; set; }

    public required string ModelFingerprint { get; set; }

    public required string OutputDirectory { get; set; }

    public int QuestionCount { get; set; }

    public required string Status { get; set; }

    public string? FailureReason { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime? CompletedAt { get; set; }
}

/// <summary>A question of a job: which pair, which class, which row of that class's tensor.</summary>
public sealed class QuestionRecord
{
    public Guid JobId { get; set; }

    public int QuestionIndex { get; set; }

    public required string PairId { get; set; }

    /// <summary>faithful or unfaithful.</summary>
    public required string Label { get; set; }

    /// <summary>The row of this question in its class's tensor.</summary>
    public int Row { get; set; }

    public required string Text { get; set; }
}

/// <summary>A question's result, as a worker returned it. At most one per question: recording is idempotent.</summary>
public sealed class QuestionResultRecord
{
    public Guid JobId { get; set; }

    public int QuestionIndex { get; set; }

    public int TokenCount { get; set; }

    /// <summary>The dtype the worker computed in.</summary>
    public required string Dtype { get; set; }

    /// <summary>The device the worker computed on (cpu, cuda:0).</summary>
    public required string Device { get; set; }

    public required string Worker { get; set; }

    public DateTime RecordedAt { get; set; }
}

/// <summary>One pooled vector of a result, stored with the hook it belongs to.</summary>
public sealed class ResultVectorRecord
{
    public Guid JobId { get; set; }

    public int QuestionIndex { get; set; }

    /// <summary>The TransformerLens hook name.</summary>
    public required string Hook { get; set; }

    /// <summary>float32 little-endian.</summary>
    public required byte[] Values { get; set; }
}

/// <summary>A hook point a job asked for, with the width each of its vectors must have.</summary>
public sealed class JobHookRecord
{
    public Guid JobId { get; set; }

    /// <summary>The TransformerLens hook name.</summary>
    public required string Hook { get; set; }

    public int Width { get; set; }
}

/// <summary>A question that cannot be captured (for example too long), with the reason. At most one per question.</summary>
public sealed class QuestionFailureRecord
{
    public Guid JobId { get; set; }

    public int QuestionIndex { get; set; }

    public required string Reason { get; set; }

    public required string Worker { get; set; }

    public DateTime RecordedAt { get; set; }
}
