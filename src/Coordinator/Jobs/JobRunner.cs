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
public sealed class JobRunner(ILoggerFactory loggers, ModelResolver models, JobStore store, Func<IBusControl> bus)
{
    const int SendChunk = 1000;
    readonly ILogger logger = loggers.CreateLogger("Activations.Coordinator");

    public async Task<JobOutcome> RunAsync(ValidatedRun run, CancellationToken cancellation)
    {
        var started = DateTimeOffset.UtcNow;
        var settings = run.Settings;
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
        var (folder, fingerprint) = await models.ResolveAsync(cancellation);
        ActivationEngine.ValidateLayers(settings.Layers, folder.Config, folder.Path);
        ActivationFileWriter.CheckWritable(run.Out);

        logger.LogInformation("Store: {Store}; broker: {Broker}", store.Connection, run.Broker?.ToString() ?? "in memory");
        await store.MigrateAsync(cancellation);
        var questions = QuestionsOf(selection);
        var job = new JobRecord
        {
            Id = Guid.NewGuid(),
            Key = JobKey.Compute(settings, fingerprint, questions),
            SettingsJson = System.Text.Json.JsonSerializer.Serialize(settings),
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
        (job, var resumed) = await store.FindOrCreateJobAsync(job, questions, cancellation);
        jobSpan?.SetTag("activations.job_id", job.Id);
        jobSpan?.SetTag("activations.questions", job.QuestionCount);
        logger.LogInformation("{Action} job {JobId}: {Count} questions, model {Model} ({Fingerprint}), layers {Layers}, pooling {Pooling}, {Bos}",
            resumed ? "Resuming" : "Created", job.Id, job.QuestionCount, folder.Path, fingerprint, string.Join(",", settings.Layers), OptionNames.Of(settings.Pooling), OptionNames.Of(settings.BosPolicy));

        var (published, captureTime) = await CaptureMissingAsync(run, store, job, resumed, folder, fingerprint, cancellation);

        var failures = await store.FailuresAsync(job.Id, cancellation);
        if (failures.Count > 0 && run.OnFailure == FailurePolicy.Fail)
        {
            var named = NameFailures(await store.QuestionsAsync(job.Id, cancellation), failures);
            await store.SetStatusAsync(job.Id, JobStatus.Failed, named, cancellation);
            throw new JobFailedException($"{failures.Count} question(s) could not be captured, so no file was written: {named}. Fix or remove them, or rerun with --on-failure drop to leave them out.");
        }
        var files = await AssembleAsync(run, store, job, failures, started, cancellation);
        await store.SetStatusAsync(job.Id, JobStatus.Completed, null, cancellation);
        return new JobOutcome(job.Id, resumed, files, published, captureTime, failures);
    }

    static List<QuestionRecord> QuestionsOf(SelectedPairs selection)
    {
        var questions = new List<QuestionRecord>();
        foreach (var (label, pairs) in new[] { ("faithful", selection.Faithful), ("unfaithful", selection.Unfaithful) })
        {
            for (var row = 0; row < pairs.Count; row++)
            {
                questions.Add(new QuestionRecord { QuestionIndex = questions.Count, PairId = pairs[row].PairId, Label = label, Row = row, Text = pairs[row].Question });
            }
        }
        return questions;
    }

    /// <summary>Starts the bus (and the local worker), publishes what has no result yet, and waits until every question is in.</summary>
    async Task<(int Published, TimeSpan CaptureTime)> CaptureMissingAsync(ValidatedRun run, JobStore store, JobRecord job, bool resumed, ModelFolder folder, string fingerprint, CancellationToken cancellation)
    {
        // Started once the job is in the store, and returns once the result consumers are receiving: a resumed
        // run's backlog drain counts on it.
        var control = bus();
        await control.StartAsync(cancellation);
        try
        {
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
            var endpoint = await control.GetSendEndpoint(new Uri($"queue:{QueueNames.CaptureQuestions(fingerprint)}"));
            var publishing = Stopwatch.StartNew();
            foreach (var chunk in missing.Chunk(SendChunk))
            {
                await endpoint.SendBatch(chunk.Select(q => new CaptureQuestion
                {
                    JobId = job.Id,
                    QuestionIndex = q.QuestionIndex,
                    PairId = q.PairId,
                    Text = q.Text,
                    ModelFingerprint = fingerprint,
                    Settings = run.Settings,
                    BatchSize = run.BatchSize,
                }), cancellation);
            }
            if (missing.Count > 0)
            {
                logger.LogInformation("Published {Count} questions to {Queue} in {Seconds:F1} s", missing.Count, QueueNames.CaptureQuestions(fingerprint), publishing.Elapsed.TotalSeconds);
            }
            var reporter = new ProgressReporter(logger, progress.Finished, TimeSpan.FromSeconds(2));
            while (!progress.IsComplete)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellation);
                progress = await store.ProgressAsync(job.Id, cancellation);
                reporter.Report(progress);
            }
            reporter.Report(progress, force: true);
            return (missing.Count, publishing.Elapsed);
        }
        finally
        {
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

    static readonly TimeSpan BacklogQuiet = TimeSpan.FromSeconds(2);
    static readonly TimeSpan BacklogLimit = TimeSpan.FromSeconds(30);

    async Task<IReadOnlyList<string>> AssembleAsync(ValidatedRun run, JobStore store, JobRecord job, IReadOnlyList<QuestionFailureRecord> failures, DateTimeOffset started, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        using var span = ActivationsTelemetry.Source.StartActivity("assemble");
        var questions = await store.QuestionsAsync(job.Id, cancellation);
        var results = (await store.ResultsAsync(job.Id, cancellation)).ToDictionary(r => r.QuestionIndex);
        var dropped = failures.Select(f => f.QuestionIndex).ToHashSet();
        if (dropped.Count > 0)
        {
            logger.LogWarning("Leaving out {Count} question(s) that could not be captured: {Pairs}", dropped.Count, NameFailures(questions, failures));
        }
        var kept = questions.Where(q => !dropped.Contains(q.QuestionIndex)).ToList();
        var layers = run.Settings.Layers;
        var vectors = new PooledVectorTable();
        var tokenCounts = new Dictionary<string, int>();
        foreach (var question in kept)
        {
            var result = results[question.QuestionIndex];
            for (var slot = 0; slot < layers.Count; slot++)
            {
                vectors.Add(question.PairId, layers[slot], QuestionActivationsCaptured.Unpack(result.Vectors, result.Hidden, slot));
            }
            tokenCounts[question.PairId] = result.TokenCount;
        }
        var computeDtypes = kept.Select(q => results[q.QuestionIndex].Dtype).Distinct().ToList();
        var computeDtype = computeDtypes.Count == 1 && OptionNames.TryParseDtype(computeDtypes[0], out var single) ? single : ComputeDtype.Float32;
        var request = new AssemblyRequest(
            layers,
            kept.Where(q => q.Label == "faithful").OrderBy(q => q.Row).Select(q => q.PairId).ToList(),
            kept.Where(q => q.Label == "unfaithful").OrderBy(q => q.Row).Select(q => q.PairId).ToList(),
            vectors,
            ActivationDtypes.ForCompute(computeDtype));
        var assembler = new ActivationAssembler(new ActivationFileWriter(loggers.CreateLogger<ActivationFileWriter>()), loggers.CreateLogger<ActivationAssembler>());
        var files = assembler.AssembleAndWrite(request, run.Out, () => Manifest.Create(
            run.Settings, run.Settings.Device, computeDtype, run.Limits.Variant,
            request.FaithfulPairIds, request.UnfaithfulPairIds, tokenCounts, started, DateTimeOffset.UtcNow));
        logger.LogInformation("Wrote {Count} files to {Out} in {Seconds:F1} s: {Faithful} faithful and {Unfaithful} unfaithful rows per layer, {Dtype}",
            files.Count, run.Out, clock.Elapsed.TotalSeconds, request.FaithfulPairIds.Count, request.UnfaithfulPairIds.Count, request.Dtype.Name());
        return files;
    }

    static string NameFailures(IReadOnlyList<QuestionRecord> questions, IReadOnlyList<QuestionFailureRecord> failures)
    {
        var pairs = questions.ToDictionary(q => q.QuestionIndex, q => q.PairId);
        return string.Join("; ", failures.Select(f => $"pair {pairs[f.QuestionIndex]}: {f.Reason}"));
    }
}

/// <summary>The job cannot produce its files (questions that failed under --on-failure fail).</summary>
public sealed class JobFailedException(string message) : Exception(message);
