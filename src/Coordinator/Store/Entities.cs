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

/// <summary>A question's pooled vectors, as a worker returned them. At most one per question: recording is idempotent.</summary>
public sealed class QuestionResultRecord
{
    public Guid JobId { get; set; }

    public int QuestionIndex { get; set; }

    public int TokenCount { get; set; }

    public int Hidden { get; set; }

    /// <summary>float32 little-endian [layers, hidden], layers in the job's order.</summary>
    public required byte[] Vectors { get; set; }

    public required string Dtype { get; set; }

    public required string Worker { get; set; }

    public DateTime RecordedAt { get; set; }
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
