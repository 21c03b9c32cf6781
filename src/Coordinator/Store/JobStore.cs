using System.Data.Common;
using Activations.Contracts.Messages;
using Activations.Coordinator.Messaging;
using Activations.ServiceDefaults;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Activations.Coordinator.Store;

/// <summary>A result refused by <see cref="ResultValidator"/> for a running job: its question is still missing.</summary>
public sealed record RejectedResult(Guid JobId, int QuestionIndex, string Worker, string Reason);

/// <summary>Where one stored vector's bytes go: a span of exactly <paramref name="byteLength"/> bytes, or empty to skip it.</summary>
public delegate Span<byte> VectorDestination(int questionIndex, int byteLength);

/// <summary>What one call recording results did.</summary>
public sealed record RecordedResults(int Inserted, IReadOnlyList<RejectedResult> Rejected);

/// <summary>What a job's store knows of its progress.</summary>
public sealed record JobProgress(int Total, int Captured, int Failed)
{
    public int Finished => Captured + Failed;

    public bool IsComplete => Finished >= Total;
}

/// <summary>
/// The coordinator's store operations. Results are recorded in batches with INSERT … ON CONFLICT DO NOTHING (<see cref="BulkInsert"/>), so a
/// redelivered or duplicated result changes nothing; every operation retries through a database restart.
/// </summary>
public sealed class JobStore(StoreConnection connection, ILogger<JobStore> logger)
{
    readonly ResiliencePipeline retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<DbException>(IsTransient).Handle<InvalidOperationException>(e => e.InnerException is DbException or TimeoutException).Handle<TimeoutException>(),
            MaxRetryAttempts = 12,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(250),
            MaxDelay = TimeSpan.FromSeconds(5),
            UseJitter = true,
            OnRetry = args =>
            {
                logger.LogWarning("Store unavailable ({Error}); retry {Attempt} in {Delay:F1} s", args.Outcome.Exception?.Message, args.AttemptNumber + 1, args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        })
        .Build();

    public StoreConnection Connection => connection;

    long recordedHere;

    /// <summary>
    /// Each running job's hook widths and pair ids by question index, read once: a job's questions and hooks never
    /// change after it is created, so recording a batch reads only the job's row (its status) from the database.
    /// </summary>
    readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, JobShape> shapes = new();

    sealed record JobShape(IReadOnlyDictionary<string, int> Widths, IReadOnlyDictionary<int, string> PairIds);

    /// <summary>
    /// Results and failures this store has inserted, for every job: a free signal that progress may have moved, so
    /// the runner reads the database only when it has (the database stays the one account of progress).
    /// </summary>
    public long RecordedHere => Interlocked.Read(ref recordedHere);

    static bool IsTransient(DbException e) => e switch
    {
        Npgsql.PostgresException pg => pg.IsTransient || pg.SqlState is "57P01" or "57P02" or "57P03" or "08006" or "08001",
        Npgsql.NpgsqlException npgsql => npgsql.IsTransient,
        Microsoft.Data.Sqlite.SqliteException sqlite => sqlite.SqliteErrorCode is 5 or 6, // busy, locked
        _ => false,
    };

    /// <summary>Creates or upgrades the schema (EF Core migrations of the provider).</summary>
    public Task MigrateAsync(CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        await db.Database.MigrateAsync(ct);
        if (!connection.IsPostgres)
        {
            // Progress reads then never wait for the result writer, nor it for them.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
        }
    }, cancellation).AsTask();

    /// <summary>Finds the job with <paramref name="job"/>'s key, or stores it with its hooks and questions. True when it existed.</summary>
    public Task<(JobRecord Job, bool Resumed)> FindOrCreateJobAsync(JobRecord job, IReadOnlyList<JobHookRecord> hooks, IReadOnlyList<QuestionRecord> questions, CancellationToken cancellation)
        => retry.ExecuteAsync(async ct =>
        {
            await using var db = connection.CreateContext();
            var existing = await db.Jobs.AsNoTracking().SingleOrDefaultAsync(j => j.Key == job.Key, ct);
            if (existing is not null)
            {
                if (existing.Status != JobStatus.Running)
                {
                    await db.Jobs.Where(j => j.Id == existing.Id).ExecuteUpdateAsync(s => s.SetProperty(j => j.Status, JobStatus.Running).SetProperty(j => j.FailureReason, (string?)null), ct);
                }
                return (existing, true);
            }
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            db.Jobs.Add(job);
            db.JobHooks.AddRange(hooks.Select(h => new JobHookRecord { JobId = job.Id, Hook = h.Hook, Width = h.Width }));
            await db.SaveChangesAsync(ct);
            // In bulk (binary COPY, or one prepared statement): a hundred thousand questions in about a second, where EF row by row takes minutes.
            await InsertIgnoringDuplicatesAsync(db, "questions", ["job_id", "question_index", "pair_id", "label", "row", "text"],
                questions.Select(q => new object[] { job.Id, q.QuestionIndex, q.PairId, q.Label, q.Row, q.Text }).ToList(), ct);
            await transaction.CommitAsync(ct);
            return (job, false);
        }, cancellation).AsTask();

    /// <summary>The questions that have neither a result nor a recorded failure.</summary>
    public Task<List<QuestionRecord>> MissingQuestionsAsync(Guid jobId, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        return await db.Questions.AsNoTracking()
            .Where(q => q.JobId == jobId
                && !db.Results.Any(r => r.JobId == jobId && r.QuestionIndex == q.QuestionIndex)
                && !db.Failures.Any(f => f.JobId == jobId && f.QuestionIndex == q.QuestionIndex))
            .OrderBy(q => q.QuestionIndex)
            .ToListAsync(ct);
    }, cancellation).AsTask();

    public Task<JobProgress> ProgressAsync(Guid jobId, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        using var span = ActivationsTelemetry.Source.StartActivity("progress");
        await using var db = connection.CreateContext();
        var total = await db.Questions.CountAsync(q => q.JobId == jobId, ct);
        var captured = await db.Results.CountAsync(r => r.JobId == jobId, ct);
        var failed = await db.Failures.CountAsync(f => f.JobId == jobId && !db.Results.Any(r => r.JobId == jobId && r.QuestionIndex == f.QuestionIndex), ct);
        return new JobProgress(total, captured, failed);
    }, cancellation).AsTask();

    public Task<List<QuestionRecord>> QuestionsAsync(Guid jobId, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        return await db.Questions.AsNoTracking().Where(q => q.JobId == jobId).OrderBy(q => q.QuestionIndex).ToListAsync(ct);
    }, cancellation).AsTask();

    public Task<List<QuestionResultRecord>> ResultsAsync(Guid jobId, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        return await db.Results.AsNoTracking().Where(r => r.JobId == jobId).ToListAsync(ct);
    }, cancellation).AsTask();

    /// <summary>The hooks the job asked for, with the width each vector must have.</summary>
    public Task<List<JobHookRecord>> JobHooksAsync(Guid jobId, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        return await db.JobHooks.AsNoTracking().Where(h => h.JobId == jobId).ToListAsync(ct);
    }, cancellation).AsTask();

    /// <summary>
    /// Visits the question, hook and byte length of every vector of the job without reading its values: assembly's
    /// checking pass. Streamed row by row (nothing is materialised); a database restart retries the whole read, so
    /// <paramref name="visit"/> must be idempotent.
    /// </summary>
    public Task VisitVectorLengthsAsync(Guid jobId, Action<int, string, int> visit, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        var query = db.Vectors.AsNoTracking().Where(v => v.JobId == jobId)
            .Select(v => new { v.QuestionIndex, v.Hook, Length = v.Values.Length });
        await foreach (var row in query.AsAsyncEnumerable().WithCancellation(ct))
        {
            visit(row.QuestionIndex, row.Hook, row.Length);
        }
    }, cancellation).AsTask();

    /// <summary>
    /// Copies every vector of the job at <paramref name="hook"/>, in question order, straight into the bytes
    /// <paramref name="destination"/> gives for it (an empty span skips the vector): one reader with sequential
    /// access, so no row is held beyond the driver's buffer. A database restart retries the whole read, so
    /// <paramref name="destination"/> must be idempotent.
    /// </summary>
    public Task ReadHookVectorsAsync(Guid jobId, string hook, VectorDestination destination, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        // The command EF Core builds (its parameter conversions: SQLite stores a Guid as text), run with our own reader.
        await using var command = db.Vectors.AsNoTracking().Where(v => v.JobId == jobId && v.Hook == hook)
            .OrderBy(v => v.QuestionIndex).Select(v => new { v.QuestionIndex, v.Values }).CreateDbCommand();
        await db.Database.OpenConnectionAsync(ct);
        await using var reader = await command.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, ct);
        while (await reader.ReadAsync(ct))
        {
            var index = reader.GetInt32(0);
            await using var values = reader.GetStream(1);
            Copy(values, destination(index, checked((int)values.Length)));
        }
    }, cancellation).AsTask();

    static void Copy(Stream values, Span<byte> target)
    {
        if (!target.IsEmpty)
        {
            values.ReadExactly(target);
        }
    }

    public Task<List<QuestionFailureRecord>> FailuresAsync(Guid jobId, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        return await db.Failures.AsNoTracking()
            .Where(f => f.JobId == jobId && !db.Results.Any(r => r.JobId == jobId && r.QuestionIndex == f.QuestionIndex))
            .OrderBy(f => f.QuestionIndex).ToListAsync(ct);
    }, cancellation).AsTask();

    public Task<List<JobRecord>> JobsAsync(CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        return await db.Jobs.AsNoTracking().OrderByDescending(j => j.CreatedAt).ToListAsync(ct);
    }, cancellation).AsTask();

    public Task SetStatusAsync(Guid jobId, string status, string? failureReason, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        var completedAt = status == JobStatus.Running ? (DateTime?)null : DateTime.UtcNow;
        await db.Jobs.Where(j => j.Id == jobId).ExecuteUpdateAsync(s => s
            .SetProperty(j => j.Status, status)
            .SetProperty(j => j.FailureReason, failureReason)
            .SetProperty(j => j.CompletedAt, completedAt), ct);
    }, cancellation).AsTask();

    /// <summary>
    /// Records results in batches. Ignored, and counted as such: duplicates, results for jobs that are not running
    /// (late results for a finished job), for questions the job does not have, or from another model.
    /// </summary>
    /// <returns>the number of rows inserted</returns>
    public async Task<int> RecordResultsAsync(IReadOnlyList<QuestionActivationsCaptured> results, CancellationToken cancellation)
        => (await RecordCheckedResultsAsync(results, cancellation)).Inserted;

    /// <summary>
    /// Records results in batches, each checked against its job first (<see cref="ResultValidator"/>): a bad one is
    /// rejected alone, logged once with its worker and counted, and the good ones of the same batch are stored.
    /// Results for jobs that do not exist or no longer run are ignored (late duplicates are normal).
    /// </summary>
    public async Task<RecordedResults> RecordCheckedResultsAsync(IReadOnlyList<QuestionActivationsCaptured> results, CancellationToken cancellation)
    {
        using var span = ActivationsTelemetry.Source.StartActivity("record results");
        span?.SetTag("activations.results", results.Count);
        var recorded = await retry.ExecuteAsync(ct => new ValueTask<RecordedResults>(InsertResultsAsync(results, ct)), cancellation);
        span?.SetTag("activations.inserted", recorded.Inserted);
        ActivationsTelemetry.ResultsRecorded.Add(recorded.Inserted);
        Interlocked.Add(ref recordedHere, recorded.Inserted);
        foreach (var rejected in recorded.Rejected)
        {
            logger.LogWarning("Rejected the result for question {Index} of job {JobId} from worker {Worker}: {Reason}; the question stays missing",
                rejected.QuestionIndex, rejected.JobId, rejected.Worker, rejected.Reason);
        }
        ActivationsTelemetry.ResultsRejected.Add(recorded.Rejected.Count);
        return recorded;
    }

    async Task<RecordedResults> InsertResultsAsync(IReadOnlyList<QuestionActivationsCaptured> results, CancellationToken ct)
    {
        await using var db = connection.CreateContext();
        var expectations = await ExpectationsAsync(db, results, shapes, ct);
        var rows = new List<QuestionActivationsCaptured>(results.Count);
        var rejected = new List<RejectedResult>();
        foreach (var result in results)
        {
            var job = expectations.GetValueOrDefault(result.JobId);
            if (ResultValidator.Problem(result, job) is not { } problem)
            {
                rows.Add(result);
            }
            else if (job is null || job.Status == JobStatus.Running)
            {
                // (A result for a job that exists but no longer runs is a late duplicate: ignored, not rejected.)
                rejected.Add(new RejectedResult(result.JobId, result.QuestionIndex, Printable(result.Worker), problem));
            }
        }
        rows = rows.DistinctBy(r => (r.JobId, r.QuestionIndex)).ToList();
        var now = DateTime.UtcNow;
        // A result and its vectors commit together; the vectors stored are those of the copy whose row went in.
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        var inserted = await InsertIgnoringDuplicatesAsync(db, "question_results",
            ["job_id", "question_index", "token_count", "dtype", "device", "worker", "recorded_at"],
            rows.Select(r => new object[] { r.JobId, r.QuestionIndex, r.TokenCount, r.Dtype, r.Device, r.Worker, now }).ToList(), ct, returnKeys: true);
        var keys = inserted.Keys.ToHashSet();
        await InsertIgnoringDuplicatesAsync(db, "result_vectors", ["job_id", "question_index", "hook", "vector"],
            rows.Where(r => keys.Contains((r.JobId, r.QuestionIndex)))
                .SelectMany(r => r.Vectors.Select(v => new object[] { r.JobId, r.QuestionIndex, v.Hook.Name, v.Values })).ToList(), ct);
        await transaction.CommitAsync(ct);
        if (inserted.Count < results.Count)
        {
            logger.LogDebug("Recorded {Inserted} of {Received} results; the rest were duplicates, late, not this job's, or rejected", inserted.Count, results.Count);
        }
        return new RecordedResults(inserted.Count, rejected);
    }

    /// <summary>A worker name from a message, safe to log: at most 64 characters, control characters escaped.</summary>
    static string Printable(string? text) => text is null ? "(none)"
        : string.Concat((text.Length > 64 ? text[..64] + "…" : text).Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));

    /// <summary>What each job of <paramref name="results"/> expects: status, model, question count, hook widths, pair ids.</summary>
    static async Task<Dictionary<Guid, ResultExpectation>> ExpectationsAsync(ActivationsDbContext db, IReadOnlyList<QuestionActivationsCaptured> results,
        System.Collections.Concurrent.ConcurrentDictionary<Guid, JobShape> shapes, CancellationToken ct)
    {
        var jobIds = results.Select(r => r.JobId).Distinct().ToList();
        var jobs = await db.Jobs.AsNoTracking().Where(j => jobIds.Contains(j.Id))
            .Select(j => new { j.Id, j.Status, j.ModelFingerprint, j.QuestionCount }).ToListAsync(ct);
        var expectations = new Dictionary<Guid, ResultExpectation>();
        foreach (var job in jobs)
        {
            JobShape? shape = null;
            if (job.Status == JobStatus.Running && !shapes.TryGetValue(job.Id, out shape))
            {
                var widths = await db.JobHooks.AsNoTracking().Where(h => h.JobId == job.Id).ToDictionaryAsync(h => h.Hook, h => h.Width, ct);
                var pairs = await db.Questions.AsNoTracking().Where(q => q.JobId == job.Id).ToDictionaryAsync(q => q.QuestionIndex, q => q.PairId, ct);
                shape = shapes.GetOrAdd(job.Id, new JobShape(widths, pairs));
            }
            else if (job.Status != JobStatus.Running)
            {
                shapes.TryRemove(job.Id, out _);
            }
            expectations[job.Id] = new ResultExpectation(job.Id, job.Status, job.ModelFingerprint, job.QuestionCount,
                shape?.Widths ?? new Dictionary<string, int>(), shape?.PairIds ?? new Dictionary<int, string>());
        }
        return expectations;
    }

    /// <summary>A question to ask again, with what its message needs: the job's model and capture spec.</summary>
    public sealed record QuestionToAsk(QuestionRecord Question, string Fingerprint, Contracts.CaptureSpec Spec);

    /// <summary>The questions of running jobs among <paramref name="keys"/>, with their job's model and spec.</summary>
    public Task<Dictionary<(Guid, int), QuestionToAsk>> QuestionsToAskAgainAsync(IReadOnlyList<(Guid JobId, int QuestionIndex)> keys, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        if (keys.Count == 0)
        {
            return new Dictionary<(Guid, int), QuestionToAsk>();
        }
        await using var db = connection.CreateContext();
        var jobIds = keys.Select(k => k.JobId).Distinct().ToList();
        var jobs = await db.Jobs.AsNoTracking().Where(j => jobIds.Contains(j.Id) && j.Status == JobStatus.Running).ToDictionaryAsync(j => j.Id, ct);
        var indices = keys.Select(k => k.QuestionIndex).Distinct().ToList();
        var questions = await db.Questions.AsNoTracking().Where(q => jobIds.Contains(q.JobId) && indices.Contains(q.QuestionIndex)).ToListAsync(ct);
        var wanted = keys.ToHashSet();
        return questions.Where(q => wanted.Contains((q.JobId, q.QuestionIndex)) && jobs.ContainsKey(q.JobId))
            .ToDictionary(q => (q.JobId, q.QuestionIndex), q => new QuestionToAsk(q, jobs[q.JobId].ModelFingerprint,
                System.Text.Json.JsonSerializer.Deserialize<Contracts.CaptureSpec>(jobs[q.JobId].SettingsJson)!));
    }, cancellation).AsTask();

    /// <summary>Deletes the job's recorded failures, so a rerun asks those questions again; the number deleted.</summary>
    public Task<int> ClearFailuresAsync(Guid jobId, CancellationToken cancellation) => retry.ExecuteAsync(async ct =>
    {
        await using var db = connection.CreateContext();
        return await db.Failures.Where(f => f.JobId == jobId).ExecuteDeleteAsync(ct);
    }, cancellation).AsTask();

    /// <summary>Records questions that cannot be captured; the first reason recorded stays.</summary>
    public async Task<int> RecordFailuresAsync(IReadOnlyList<QuestionCaptureFailed> failures, CancellationToken cancellation)
    {
        var inserted = await retry.ExecuteAsync(ct => new ValueTask<int>(InsertFailuresAsync(failures, ct)), cancellation);
        Interlocked.Add(ref recordedHere, inserted);
        return inserted;
    }

    async Task<int> InsertFailuresAsync(IReadOnlyList<QuestionCaptureFailed> failures, CancellationToken ct)
    {
        await using var db = connection.CreateContext();
        var accepted = await AcceptedAsync(db, failures.Select(f => (f.JobId, f.QuestionIndex, (string?)null)), ct);
        var now = DateTime.UtcNow;
        var rows = failures.Where(f => accepted.Contains((f.JobId, f.QuestionIndex))).DistinctBy(f => (f.JobId, f.QuestionIndex))
            .Select(f => new object[] { f.JobId, f.QuestionIndex, f.Reason, f.Worker, now }).ToList();
        return (await InsertIgnoringDuplicatesAsync(db, "question_failures", ["job_id", "question_index", "reason", "worker", "recorded_at"], rows, ct)).Count;
    }

    /// <summary>The (job, question) pairs that belong to a running job, within its questions, and (when given) from its model.</summary>
    static async Task<HashSet<(Guid, int)>> AcceptedAsync(ActivationsDbContext db, IEnumerable<(Guid JobId, int QuestionIndex, string? Fingerprint)> keys, CancellationToken ct)
    {
        var list = keys.ToList();
        var jobIds = list.Select(k => k.JobId).Distinct().ToList();
        var jobs = await db.Jobs.AsNoTracking()
            .Where(j => jobIds.Contains(j.Id) && j.Status == JobStatus.Running)
            .Select(j => new { j.Id, j.QuestionCount, j.ModelFingerprint })
            .ToDictionaryAsync(j => j.Id, ct);
        return list
            .Where(k => jobs.TryGetValue(k.JobId, out var job) && k.QuestionIndex >= 0 && k.QuestionIndex < job.QuestionCount
                && (k.Fingerprint is null || k.Fingerprint == job.ModelFingerprint))
            .Select(k => (k.JobId, k.QuestionIndex))
            .ToHashSet();
    }

    static Task<BulkInserted> InsertIgnoringDuplicatesAsync(ActivationsDbContext db, string table, string[] columns, IReadOnlyList<object[]> rows, CancellationToken ct, bool returnKeys = false)
        => BulkInsert.IgnoringDuplicatesAsync(db, table, columns, rows, ct, returnKeys);
}
