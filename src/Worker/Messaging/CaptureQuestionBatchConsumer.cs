using Activations.Contracts.Messages;
using Activations.Worker.Capture;
using Activations.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace Activations.Worker.Messaging;

/// <summary>
/// Fills a GPU batch from the model's question queue, runs it, and publishes one reply holding every question's result.
/// Answers only for the model it holds: every message is checked first (<see cref="QuestionValidator"/>), and a
/// question for another model, or one this worker cannot run, is answered as a failure with the reason, alone.
/// A batch that throws is retried (the definition's retry policy); on the last attempt each question runs alone and
/// the ones that still throw are answered with a <see cref="QuestionCaptureFailed"/> in the reply, so a poison question never
/// blocks the queue nor leaves its job waiting.
/// A question that workers were lost holding <see cref="LossesBeforeIsolation"/> times (the broker's delivery count:
/// a process died, a connection dropped) is not run in a batch again: it is moved to the isolation queue, where each
/// runs alone, so a question that kills the process takes no other question down with it. Twice, not once: a
/// stopping worker returns the deliveries that reach it during the stop, and a broker restart all it holds, with the
/// same count as a death, and those questions run in batches as before. Each is moved once, whatever retries its
/// batch takes, and nothing runs alone until the moved messages are acknowledged (<see cref="IsolationGate"/>).
/// </summary>
public sealed class CaptureQuestionBatchConsumer(IEngineHost host, WorkerOptions options, IsolationGate isolation, ILogger<CaptureQuestionBatchConsumer> logger)
    : QuestionAnswerer(host, options, logger), IConsumer<Batch<CaptureQuestion>>
{
    /// <summary>How often workers were lost holding a question before it is moved to run alone (below <see cref="WorkerOptions.DeathLimit"/>).</summary>
    public const int LossesBeforeIsolation = 2;

    public async Task Consume(ConsumeContext<Batch<CaptureQuestion>> context)
    {
        var fresh = new List<CaptureQuestion>(context.Message.Length);
        var suspects = new List<(CaptureQuestion Question, int Losses)>();
        foreach (var message in context.Message)
        {
            var losses = QuestionQueueTopology.PreviousDeliveries(message.ReceiveContext.TransportHeaders);
            if (losses < LossesBeforeIsolation)
            {
                fresh.Add(message.Message);
            }
            else if (isolation.Moving(message.ReceiveContext))
            {
                suspects.Add((message.Message, losses));
            }
        }
        if (suspects.Count > 0)
        {
            var queue = await context.GetSendEndpoint(new Uri($"exchange:{QueueNames.IsolatedQuestions(Host.Fingerprint)}"));
            foreach (var (question, losses) in suspects)
            {
                await queue.Send(question, send => QuestionQueueTopology.SetLossesInBatches(send.Headers, losses), context.CancellationToken);
            }
            Logger.LogWarning("{Count} question(s) were held by workers that were lost {Losses} times; each runs alone on {Queue}", suspects.Count, LossesBeforeIsolation, QueueNames.IsolatedQuestions(Host.Fingerprint));
        }
        // Moved questions are counted where they are answered (the isolation queue), so each message counts once.
        if (fresh.Count > 0)
        {
            await AnswerAsync(context, fresh, context.GetRetryAttempt() >= CaptureQuestionBatchConsumerDefinition.RetryLimit, fresh.Count);
        }
    }
}

/// <summary>
/// The isolation queue: one question at a time (prefetch 1), so a worker that dies holds nothing else, and the
/// broker's count of a message's deliveries here is the number of times the process died running it alone. (On the
/// question queue every message in hand is counted when a process dies, whichever question killed it, so that count
/// only says "move it here"; it travels with the moved message.) A question is answered as failed, with that
/// reason, without running it again, once the process died running it alone at least once and
/// <see cref="WorkerOptions.DeathLimit"/> times in all: an innocent question is never failed for the deaths of the
/// batches it was in.
/// </summary>
public sealed class IsolatedQuestionConsumer(IEngineHost host, WorkerOptions options, IsolationGate isolation, ILogger<IsolatedQuestionConsumer> logger)
    : QuestionAnswerer(host, options, logger), IConsumer<Batch<CaptureQuestion>>
{
    public async Task Consume(ConsumeContext<Batch<CaptureQuestion>> context)
    {
        await isolation.WaitAsync(context.CancellationToken);
        var runnable = new List<CaptureQuestion>();
        var failed = new List<QuestionCaptureFailed>();
        foreach (var message in context.Message)
        {
            var alone = QuestionQueueTopology.PreviousDeliveries(message.ReceiveContext.TransportHeaders);
            var deaths = QuestionQueueTopology.LossesInBatches(message.ReceiveContext.TransportHeaders) + alone;
            if (alone > 0 && deaths >= Options.DeathLimit)
            {
                var question = message.Message;
                Logger.LogWarning("Question {PairId} of job {JobId}: the worker process died {Deaths} times on it ({Alone} running it alone); answered as failed", question.PairId, question.JobId, deaths, alone);
                failed.Add(new QuestionCaptureFailed
                {
                    JobId = question.JobId,
                    QuestionIndex = question.QuestionIndex,
                    PairId = question.PairId,
                    Reason = $"the worker process died {deaths} times on it, {alone} of them running it alone",
                    Worker = Options.Name,
                });
            }
            else
            {
                runnable.Add(message.Message);
            }
        }
        if (failed.Count > 0)
        {
            ActivationsTelemetry.QuestionsFailed.Add(failed.Count);
            await ReplyAsync(context, [], failed);
            Options.Stats.Add(failed.Count, 0, failed.Count);
        }
        if (runnable.Count > 0)
        {
            await AnswerAsync(context, runnable, context.GetRetryAttempt() >= CaptureQuestionBatchConsumerDefinition.RetryLimit, runnable.Count);
        }
    }
}

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
                failed.Add(new QuestionCaptureFailed
                {
                    JobId = question.JobId,
                    QuestionIndex = question.QuestionIndex,
                    PairId = question.PairId ?? "",
                    Reason = problem,
                    Worker = options.Name,
                });
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
                    failed.Add(new QuestionCaptureFailed
                    {
                        JobId = items[i].JobId,
                        QuestionIndex = items[i].QuestionIndex,
                        PairId = items[i].PairId,
                        Reason = capture.Error!,
                        Worker = options.Name,
                    });
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
