using Activations.Contracts.Messages;
using Activations.Worker.Capture;
using Activations.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace Activations.Worker.Messaging;

/// <summary>What both question consumers share: run questions through the engine and publish one answer per question.</summary>
public abstract class QuestionAnswerer(IEngineHost host, WorkerOptions options, ILogger logger)
{
    protected IEngineHost Host => host;
    protected WorkerOptions Options => options;
    protected ILogger Logger => logger;

    /// <param name="messages">messages consumed, for the stats (a question repeated in one batch runs once)</param>
    protected async Task AnswerAsync(ConsumeContext context, IReadOnlyList<CaptureQuestion> questions, bool lastAttempt, int messages)
    {
        // The whole answer: with the "tokenize", "forward" and "reply" spans inside it, the worker's own cost per batch.
        var span = ActivationsTelemetry.Source.StartActivity("capture batch");
        span?.SetTag("activations.questions", questions.Count);
        var captured = new List<QuestionActivationsCaptured>(questions.Count);
        var failed = new List<QuestionCaptureFailed>();
        var computed = 0;
        // Each message is checked alone before the model is touched; a bad one is answered as a failure, alone.
        var valid = new List<CaptureQuestion>(questions.Count);
        foreach (var question in questions)
        {
            if (QuestionValidator.Problem(question, host) is { } problem)
            {
                logger.LogWarning("Question {PairId} of job {JobId} refused: {Reason}", question.PairId, question.JobId, problem);
                failed.Add(Failure(question, problem));
            }
            else
            {
                valid.Add(question);
            }
        }
        // A batch may mix jobs (and a message may carry another spec than its job's others); each spec runs apart.
        foreach (var job in valid.GroupBy(QuestionValidator.BatchKey))
        {
            var first = job.First();
            var items = job.DistinctBy(q => q.QuestionIndex).ToArray();
            var batchSize = Math.Min(first.BatchSize ?? options.BatchSize, options.BatchSize);
            var texts = items.Select(q => q.Text).ToArray();
            ActivationsTelemetry.QuestionsInFlight.Add(items.Length);
            options.Progress.Started(items.Length);
            IReadOnlyList<QuestionCapture> captures;
            try
            {
                // The forward pass itself is never cancelled: a batch in hand is finished and answered (graceful shutdown).
                captures = lastAttempt
                    ? await Task.Run(() => CaptureIsolating(texts, first.Spec, batchSize), CancellationToken.None)
                    : await Task.Run(() => host.Capture(texts, first.Spec, batchSize), CancellationToken.None);
            }
            finally
            {
                ActivationsTelemetry.QuestionsInFlight.Add(-items.Length);
                options.Progress.Finished(items.Length);
            }
            computed += items.Length;
            var dtype = host.Target?.DtypeName ?? "";
            var device = host.Target?.DeviceName ?? "";
            for (var i = 0; i < items.Length; i++)
            {
                var capture = captures[i];
                if (capture.Vectors is { } vectors)
                {
                    captured.Add(new QuestionActivationsCaptured
                    {
                        JobId = items[i].JobId,
                        QuestionIndex = items[i].QuestionIndex,
                        PairId = items[i].PairId,
                        ModelFingerprint = host.Fingerprint,
                        Vectors = [.. vectors.Select(v => HookVector.Pack(v.Key, v.Value))],
                        TokenCount = capture.TokenCount,
                        Dtype = dtype,
                        Device = device,
                        Worker = options.Name,
                    });
                }
                else
                {
                    logger.LogWarning("Question {PairId} of job {JobId} cannot be captured: {Reason}", items[i].PairId, items[i].JobId, capture.Error);
                    failed.Add(Failure(items[i], capture.Error!));
                }
            }
        }
        ActivationsTelemetry.QuestionsCaptured.Add(captured.Count);
        ActivationsTelemetry.QuestionsFailed.Add(failed.Count);
        // The consume token is cancelled only ConsumerStopTimeout after a stop begins (AddGracefulShutdown), so a
        // stopping worker still publishes the batch it finished, and a publish stuck on a lost broker gives up then.
        using (ActivationsTelemetry.Source.StartActivity("reply"))
        {
            await ReplyAsync(context, captured, failed);
        }
        span?.Dispose(); // ended before the stats are written, so the file holds this batch's time too
        options.Stats.Add(messages, computed, failed.Count);
        if (options.StatsFile is { } statsFile)
        {
            options.Stats.WriteTo(statsFile, host.ForwardPasses, options.Spans);
        }
        logger.LogDebug("Captured {Count} questions ({Failed} failed)", captured.Count, failed.Count);
    }

    /// <summary>The answer for a question this worker could not capture, with the reason.</summary>
    protected QuestionCaptureFailed Failure(CaptureQuestion question, string reason) => new()
    {
        JobId = question.JobId,
        QuestionIndex = question.QuestionIndex,
        PairId = question.PairId ?? "",
        Reason = reason,
        Worker = options.Name,
    };

    /// <summary>One reply per job in the batch (each goes to its job's coordinator alone: see ReplyTopology).</summary>
    protected static async Task ReplyAsync(ConsumeContext context, IReadOnlyList<QuestionActivationsCaptured> captured, IReadOnlyList<QuestionCaptureFailed> failed)
    {
        foreach (var job in captured.Select(r => r.JobId).Concat(failed.Select(f => f.JobId)).Distinct())
        {
            await context.Publish(new QuestionsAnswered
            {
                JobId = job,
                Results = [.. captured.Where(r => r.JobId == job)],
                Failures = [.. failed.Where(f => f.JobId == job)],
            }, context.CancellationToken);
        }
    }

    /// <summary>The last attempt: the batch once more, and if it throws, each question alone; one that throws alone fails with the exception's message.</summary>
    IReadOnlyList<QuestionCapture> CaptureIsolating(string[] texts, Contracts.CaptureSpec spec, int batchSize)
    {
        try
        {
            return host.Capture(texts, spec, batchSize);
        }
        catch (Exception e)
        {
            logger.LogWarning("A batch of {Count} questions failed on its last attempt ({Error}); running each alone", texts.Length, e.Message);
        }
        var captures = new QuestionCapture[texts.Length];
        for (var i = 0; i < texts.Length; i++)
        {
            try
            {
                captures[i] = host.Capture([texts[i]], spec, 1)[0];
            }
            catch (Exception e)
            {
                captures[i] = new QuestionCapture(0, null, $"the worker failed on it after {CaptureQuestionBatchConsumerDefinition.RetryLimit + 1} attempts: {e.Message}");
            }
        }
        return captures;
    }
}
