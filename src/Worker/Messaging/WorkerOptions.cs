using Activations.ServiceDefaults;

namespace Activations.Worker.Messaging;

public sealed record WorkerOptions
{
    /// <summary>Shown in results and logs, so a row can be traced to the worker that computed it.</summary>
    public string Name { get; init; } = $"{Environment.MachineName}/{Environment.ProcessId}";

    /// <summary>Most questions per forward pass, and per consumed batch, unless a job asks for fewer.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>
    /// A question whose worker process died this many times while holding it (counted by the broker, so it survives
    /// the process), at least once running it alone, is answered as failed instead of being run again.
    /// </summary>
    public int DeathLimit { get; init; } = 3;

    /// <summary>
    /// Most padded tokens (rows × longest row) per forward pass; a consumed batch runs as micro-batches of similar
    /// lengths under it. Null: the device's default (<see cref="Capture.TokenBudgetBatcher.DefaultTokenBudget"/>).
    /// </summary>
    public int? TokenBudget { get; init; }

    /// <summary>How long a partial batch waits for more questions before it runs.</summary>
    public TimeSpan BatchTimeLimit { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>When set, rewritten after every batch with this worker's counters (JSON), so a test or an operator can see what it computed.</summary>
    public string? StatsFile { get; init; }

    /// <summary>Liveness fails when questions are in hand and no batch has progressed for this long.</summary>
    public TimeSpan StuckAfter { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a stopping worker (SIGTERM) may take to finish and answer the batches in hand. Below the grace period
    /// compose (stop_grace_period) and Kubernetes (terminationGracePeriodSeconds) give it: 120 s.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>Whether work is progressing (liveness).</summary>
    public WorkProgress Progress { get; } = new();

    /// <summary>When set, the stats file also holds the summed time of this process's spans by name (the worker's cost per part).</summary>
    public SpanTotals? Spans { get; init; }

    /// <summary>This worker's counters (shared by every consumer instance).</summary>
    public WorkerStats Stats { get; } = new();
}

/// <summary>What a worker has done since it started.</summary>
public sealed class WorkerStats
{
    long messages;
    long questions;
    long failed;

    /// <summary>Question messages consumed and acknowledged (answered with a result or a failure).</summary>
    public long Messages => Interlocked.Read(ref messages);

    /// <summary>Questions run through the engine (a message repeated within one batch runs once).</summary>
    public long Questions => Interlocked.Read(ref questions);

    /// <summary>Questions answered with a failure.</summary>
    public long Failed => Interlocked.Read(ref failed);

    public void Add(int messageCount, int questionCount, int failedCount)
    {
        Interlocked.Add(ref messages, messageCount);
        Interlocked.Add(ref questions, questionCount);
        Interlocked.Add(ref failed, failedCount);
    }

    readonly Lock writing = new();

    /// <summary>
    /// Writes the counters to <paramref name="path"/> atomically, one writer at a time, so two batches finishing
    /// together cannot put the older counters last.
    /// </summary>
    public void WriteTo(string path, long forwardPasses, SpanTotals? spans = null)
    {
        lock (writing)
        {
            var json = System.Text.Json.JsonSerializer.Serialize(new
            {
                messages = Messages, questions = Questions, failed = Failed, forward_passes = forwardPasses,
                spans = spans?.Snapshot().ToDictionary(p => p.Key, p => new { count = p.Value.Count, seconds = p.Value.Seconds }),
            });
            AtomicFile.WriteAllText(path, json);
        }
    }
}
