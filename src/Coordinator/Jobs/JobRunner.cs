using System.Diagnostics;
using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Inputs;
using Activations.Coordinator.Messaging;
using Activations.Coordinator.Store;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Activations.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace Activations.Coordinator.Jobs;

/// <summary>How a run ended, for the exit code and for tests.</summary>
/// <param name="CaptureTime">from the first publish until every question had a result: the pipeline's steady state</param>
public sealed record JobOutcome(Guid JobId, bool Resumed, IReadOnlyList<string> Files, int Published, TimeSpan CaptureTime, IReadOnlyList<QuestionFailureRecord> Failures);

/// <summary>
/// One run of the `run` command: inputs → job and questions in the store → one message per missing question →
/// results recorded by the consumers → assembled, contract-checked, written. Resumable: the job's key finds a
/// previous run's results, and only what has none is published again. Its store, model and bus come from the
/// coordinator's host (<see cref="CoordinatorHost"/>); the bus is started once the job is in the store.
/// </summary>
/// <param name="bus">the bus, built on first use: with a local worker, building it needs the model resolved</param>
public sealed class JobRunner(ILoggerFactory loggers, ModelResolver models, JobStore store, Func<IBusControl> bus, JobResultsEndpoint results, RunFilesAssembler assembler)
{
    const int SendChunk = 1000;
    readonly ILogger logger = loggers.CreateLogger("Activations.Coordinator");

    public async Task<JobOutcome> RunAsync(ValidatedRun run, CancellationToken cancellation)
    {
        var started = DateTimeOffset.UtcNow;
        // The root of the job's one trace: publishes, workers' consumes and forwards, and recording hang under it.
        using var jobSpan = ActivationsTelemetry.Source.StartActivity("job", ActivityKind.Internal);

        // Everything that can be wrong with the input is found before any work starts.
        SelectedPairs selection;
        using (ActivationsTelemetry.Source.StartActivity("read inputs"))
        {
            var scores = ScoresCsvReader.Read(run.Scores);
            var responses = new ResponsesJsonlReader().Read(run.Responses);
            selection = PairSelection.Select(scores, responses, run.Limits, logger);
        }
        // A selection that cannot meet the contract is refused now: no store, no forward pass, the folder untouched.
        ActivationContract.ValidateSelection(selection.Faithful.Count, selection.Unfaithful.Count);
        var captured = await CaptureAsync(run, QuestionsOf(selection, run.Template), inputs: null, jobSpan, cancellation);
        var files = await assembler.AssembleAsync(new RunAssemblyContext(run, captured.Spec, captured.ModelFolder, captured.Fingerprint, selection, started), captured.Job, captured.Failures, cancellation);
        return await CompleteAsync(captured, files, cancellation);
    }

    /// <summary>
    /// The part of a job every command shares: resolves the model and the spec, finds or creates the job for
    /// <paramref name="questions"/> (its key also covers <paramref name="inputs"/>, what the command read them from),
    /// publishes what has no result, waits, and applies the failure policy. Assembly is the command's own.
    /// </summary>
    internal async Task<CapturedJob> CaptureAsync(ValidatedJob run, List<QuestionRecord> questions, object? inputs, Activity? jobSpan, CancellationToken cancellation)
    {
        var checking = ActivationsTelemetry.Source.StartActivity("check model");
        var (folder, fingerprint) = await models.ResolveAsync(cancellation);
        // The device kind and dtype are resolved here, once: they are part of the job's key, so a resumed job never
        // mixes dtypes, and a worker on another kind of device refuses the job rather than answer it differently.
        var (deviceKind, dtype) = ComputeTarget.ResolveKind(run.Capture.Device, run.Capture.Dtype, logger, onThisMachine: run.RunsLocalWorker);
        var spec = run.Capture.SpecFor(folder.Config.NumHiddenLayers, folder.Path, deviceKind, dtype, folder.Config.Family);
        ActivationFileWriter.CheckWritable(run.Out);
        checking?.Dispose();

        logger.LogInformation("Store: {Store}; broker: {Broker}", store.Connection, run.Broker?.ToString() ?? "in memory");
        // Both servers answer (and trust holds) before any work starts; each failure is one line, in bounded time.
        if (run.Postgres is { } postgres)
        {
            await PostgresConnectCheck.EnsureReachableAsync(postgres, run.ConnectTimeout, cancellation);
        }
        if (run.Broker is { } broker)
        {
            await broker.EnsureReachableAsync(cancellation);
        }
        using (ActivationsTelemetry.Source.StartActivity("migrate store"))
        {
            await store.MigrateAsync(cancellation);
        }
        var storing = ActivationsTelemetry.Source.StartActivity("store questions");
        var job = new JobRecord
        {
            Id = Guid.NewGuid(),
            Key = JobKey.Compute(spec, fingerprint, questions, inputs),
            SettingsJson = System.Text.Json.JsonSerializer.Serialize(spec),
            ModelFingerprint = fingerprint,
            OutputDirectory = Path.GetFullPath(run.Out),
            QuestionCount = questions.Count,
            Status = JobStatus.Running,
            CreatedAt = DateTime.UtcNow,
        };
        foreach (var q in questions)
        {
            q.JobId = job.Id;
        }
        // The width each hook's vectors must have: hidden_size, or n_heads * head_dim for attn.hook_z.
        var hookWidths = spec.Hooks.Select(h => new JobHookRecord
        {
            Hook = h.Name,
            Width = h.Width(folder.Config.HiddenSize, folder.Config.NumAttentionHeads * folder.Config.HeadDim),
        }).ToList();
        (job, var resumed) = await store.FindOrCreateJobAsync(job, hookWidths, questions, cancellation);
        storing?.Dispose();
        if (resumed && !run.KeepFailures)
        {
            // The cause of a failure (a worker bug, a bad node) may be gone: a rerun asks those questions again.
            var cleared = await store.ClearFailuresAsync(job.Id, cancellation);
            if (cleared > 0)
            {
                logger.LogInformation("Computing again {Count} question(s) that failed in a previous run (--keep-failures keeps them failed)", cleared);
            }
        }
        jobSpan?.SetTag("activations.job_id", job.Id);
        jobSpan?.SetTag("activations.questions", job.QuestionCount);
        logger.LogInformation("{Action} job {JobId}: {Count} questions, model {Model} ({Fingerprint}), hooks {Hooks}, pooling {Pooling}, {Bos}, {Dtype} on {Device}",
            resumed ? "Resuming" : "Created", job.Id, job.QuestionCount, folder.Path, fingerprint, string.Join(",", spec.Hooks), OptionNames.Of(spec.Pooling),
            OptionNames.Of(spec.BosPolicy), OptionNames.Of(spec.Dtype), OptionNames.Of(spec.Device));

        int published;
        TimeSpan captureTime;
        try
        {
            (published, captureTime) = await CaptureMissingAsync(run, spec, store, job, resumed, folder, fingerprint, cancellation);
        }
        catch (JobStalledException e)
        {
            await store.SetStatusAsync(job.Id, JobStatus.Failed, e.Message, CancellationToken.None);
            throw;
        }

        var failures = await store.FailuresAsync(job.Id, cancellation);
        if (failures.Count > 0 && run.OnFailure == FailurePolicy.Fail)
        {
            var named = StoredResultsReader.NameFailures(await store.QuestionsAsync(job.Id, cancellation), failures);
            await store.SetStatusAsync(job.Id, JobStatus.Failed, named, cancellation);
            throw new JobFailedException($"{failures.Count} question(s) could not be captured, so no file was written: {named}. Fix or remove them, or rerun with --on-failure drop to leave them out.");
        }
        return new CapturedJob(job, resumed, spec, folder.Path, fingerprint, folder.Config.HiddenSize, published, captureTime, failures);
    }

    /// <summary>Marks the job completed once its files are written.</summary>
    internal async Task<JobOutcome> CompleteAsync(CapturedJob captured, IReadOnlyList<string> files, CancellationToken cancellation)
    {
        await store.SetStatusAsync(captured.Job.Id, JobStatus.Completed, null, cancellation);
        return new JobOutcome(captured.Job.Id, captured.Resumed, files, captured.Published, captured.CaptureTime, captured.Failures);
    }

    static List<QuestionRecord> QuestionsOf(SelectedPairs selection, PromptTemplate template)
    {
        var questions = new List<QuestionRecord>();
        foreach (var (label, pairs) in new[] { ("faithful", selection.Faithful), ("unfaithful", selection.Unfaithful) })
        {
            for (var row = 0; row < pairs.Count; row++)
            {
                questions.Add(new QuestionRecord { QuestionIndex = questions.Count, PairId = pairs[row].PairId, Label = label, Row = row, Text = template.Apply(pairs[row].Question) });
            }
        }
        return questions;
    }

    /// <summary>Starts the bus (and the local worker), publishes what has no result yet, and waits until every question is in.</summary>
    async Task<(int Published, TimeSpan CaptureTime)> CaptureMissingAsync(ValidatedJob run, CaptureSpec spec, JobStore store, JobRecord job, bool resumed, ModelFolder folder, string fingerprint, CancellationToken cancellation)
    {
        var starting = ActivationsTelemetry.Source.StartActivity("start bus");
        // Started once the job is in the store, and returns once the result consumers are receiving (a resumed
        // run's backlog drain counts on it), or fails after the connect timeout.
        var control = bus();
        await control.StartBoundedAsync(run.Broker, cancellation);
        try
        {
            var resultsEndpoint = await results.ConnectAsync(control, job.Id, cancellation);
            starting?.Dispose();
            if (resumed)
            {
                await DrainResultsBacklogAsync(store, job.Id, cancellation);
            }
            var missing = await store.MissingQuestionsAsync(job.Id, cancellation);
            var progress = await store.ProgressAsync(job.Id, cancellation);
            if (progress.Finished > 0)
            {
                logger.LogInformation("{Finished} of {Total} questions already have a result; publishing the other {Missing}", progress.Finished, progress.Total, missing.Count);
            }
            var queue = QueueNames.CaptureQuestions(fingerprint);
            await using var queueWatch = run.Broker is { } broker ? new QuestionQueueWatch(broker, logger) : null;
            Uri address;
            if (queueWatch is not null)
            {
                // Declared here with the workers' arguments, so the questions wait for workers that start later;
                // sent to its exchange, so MassTransit does not declare the queue again with its own defaults.
                await queueWatch.DeclareAsync(queue, cancellation);
                address = new Uri($"exchange:{queue}");
            }
            else
            {
                address = new Uri($"queue:{queue}");
            }
            var endpoint = await control.GetSendEndpoint(address);
            var publishing = Stopwatch.StartNew();
            var publishSpan = ActivationsTelemetry.Source.StartActivity("publish");
            // One watch for the whole wait, the publish window's included: no consumer on the queue is reported, and
            // --stall-timeout fails the job, whether the coordinator waits for room to publish or for the last results.
            var waitClock = Stopwatch.StartNew();
            var stall = new StallWatch(run.StallTimeout, waitClock.Elapsed);
            var nextQueueCheck = TimeSpan.Zero;
            QueueState? state = null;
            async Task WatchAsync(JobProgress seen)
            {
                var now = waitClock.Elapsed;
                if (queueWatch is not null && now >= nextQueueCheck)
                {
                    nextQueueCheck = now + QueueCheckInterval;
                    state = await queueWatch.StateAsync(queue, cancellation);
                    if (stall.WarnNoConsumer(now, state?.Consumers))
                    {
                        logger.LogWarning("No worker has consumed {Queue} for {Seconds:F0} s: {Waiting} questions wait there. {Advice}",
                            queue, StallWatch.NoConsumerWarning.TotalSeconds, state!.Waiting, WhatToCheck(run, folder, fingerprint));
                    }
                }
                if (stall.IsStalled(now, seen.Finished))
                {
                    var queued = state is null ? "its state is unknown" : $"it has {state.Consumers} consumer(s) and {state.Waiting} question(s) waiting";
                    throw new JobStalledException($"no result arrived for {stall.SinceProgress(now).TotalSeconds:F0} s (--stall-timeout); {seen.Finished} of {seen.Total} questions are done. "
                        + $"The questions are in {queue}: {queued}. {WhatToCheck(run, folder, fingerprint)} Run the same command again to resume.");
                }
            }

            var window = new PublishWindow(store, job.Id, progress.Finished);
            foreach (var chunk in missing.Chunk(SendChunk))
            {
                await window.WaitForRoomAsync(chunk.Length, WatchAsync, cancellation);
                await endpoint.SendBatch(chunk.Select(q => new CaptureQuestion
                {
                    JobId = job.Id,
                    QuestionIndex = q.QuestionIndex,
                    PairId = q.PairId,
                    Text = q.Text,
                    ModelFingerprint = fingerprint,
                    Spec = spec,
                    BatchSize = run.BatchSize,
                }), cancellation);
            }
            publishSpan?.Dispose();
            if (missing.Count > 0)
            {
                logger.LogInformation("Published {Count} questions to {Queue} in {Seconds:F1} s", missing.Count, QueueNames.CaptureQuestions(fingerprint), publishing.Elapsed.TotalSeconds);
            }
            var reporter = new ProgressReporter(logger, progress.Finished, TimeSpan.FromSeconds(2));
            using var waiting = ActivationsTelemetry.Source.StartActivity("wait for results");
            // The store's in-memory count of inserted rows says when every missing question may be in; only then, or
            // every ProgressReadInterval for the log, is the database read (and it decides).
            var confirmAt = store.RecordedHere + (progress.Total - progress.Finished);
            var lastRead = Stopwatch.StartNew();
            while (!progress.IsComplete)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), cancellation);
                // The database is read when every result may be in, every ProgressReadInterval, and when the queue
                // check or the stall timeout is due (so a stall is decided on a fresh count, on time).
                var due = queueWatch is not null && waitClock.Elapsed >= nextQueueCheck || stall.IsStalled(waitClock.Elapsed, progress.Finished);
                if (store.RecordedHere < confirmAt && lastRead.Elapsed < ProgressReadInterval && !due)
                {
                    continue;
                }
                var recorded = store.RecordedHere;
                progress = await store.ProgressAsync(job.Id, cancellation);
                lastRead.Restart();
                reporter.Report(progress);
                await WatchAsync(progress);
                confirmAt = recorded + (progress.Total - progress.Finished);
            }
            reporter.Report(progress, force: true);
            // Every result is in: the job's queue goes (a stalled or cancelled job keeps it for its resume).
            await resultsEndpoint.StopAsync(CancellationToken.None);
            if (queueWatch is not null)
            {
                await queueWatch.DeleteResultsQueueAsync(job.Id, cancellation);
            }
            return (missing.Count, publishing.Elapsed);
        }
        finally
        {
            using var stopping = ActivationsTelemetry.Source.StartActivity("stop bus");
            await control.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// On resume, results that workers published for the previous run while no coordinator was consuming wait in the
    /// results queue. Recording them before choosing what to republish keeps those questions from being computed
    /// twice: wait until the recorded count has not moved for <see cref="BacklogQuiet"/> (at most <see cref="BacklogLimit"/>).
    /// </summary>
    async Task DrainResultsBacklogAsync(JobStore store, Guid jobId, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var last = await store.ProgressAsync(jobId, cancellation);
        var since = clock.Elapsed;
        while (!last.IsComplete && clock.Elapsed - since < BacklogQuiet && clock.Elapsed < BacklogLimit)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellation);
            var now = await store.ProgressAsync(jobId, cancellation);
            if (now.Finished != last.Finished)
            {
                since = clock.Elapsed;
                last = now;
            }
        }
    }

    static readonly TimeSpan QueueCheckInterval = TimeSpan.FromSeconds(5);

    /// <summary>What an operator checks when no worker answers: the same model and revision, the same broker, a loaded model.</summary>
    static string WhatToCheck(ValidatedJob run, ModelFolder folder, string fingerprint) =>
        $"This job runs model {run.Model.Model} at revision {run.Model.Revision ?? "(default branch)"} ({folder.Path}), fingerprint {fingerprint}. "
        + "Check that workers run with the same --model and --revision (another revision is another model, with another queue), "
        + $"that they reach this broker ({run.Broker}), and that they are ready (their /health/ready; their log names the queue they consume).";

    /// <summary>How often the publish loop and the wait read the database for the job's progress.</summary>
    internal static readonly TimeSpan ProgressReadInterval = TimeSpan.FromSeconds(2);

    static readonly TimeSpan BacklogQuiet = TimeSpan.FromSeconds(2);
    static readonly TimeSpan BacklogLimit = TimeSpan.FromSeconds(30);
}

/// <summary>No result arrived for --stall-timeout: the job stops (exit 4), resumable by running it again.</summary>
public sealed class JobStalledException(string message) : Exception(message);

/// <summary>A job whose questions all have a result or a failure (under --on-failure drop), ready to assemble.</summary>
internal sealed record CapturedJob(JobRecord Job, bool Resumed, CaptureSpec Spec, string ModelFolder, string Fingerprint, int HiddenSize, int Published, TimeSpan CaptureTime, IReadOnlyList<QuestionFailureRecord> Failures);

/// <summary>The job cannot produce its files (questions that failed under --on-failure fail).</summary>
public sealed class JobFailedException(string message) : Exception(message);
