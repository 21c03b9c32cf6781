using Activations.Contracts.Messages;
using Activations.Worker.Capture;
using Activations.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace Activations.Worker.Messaging;

/// <summary>
/// Fills a GPU batch from the model's question queue, runs it, and publishes one reply holding every question's result.
/// Answers only for the model it holds: a question for another model is refused, never answered.
/// A batch that throws is retried (the definition's retry policy); on the last attempt each question runs alone and
/// the ones that still throw are answered with a <see cref="QuestionCaptureFailed"/> in the reply, so a poison question never
/// blocks the queue nor leaves its job waiting.
/// </summary>
public sealed class CaptureQuestionBatchConsumer(IEngineHost host, WorkerOptions options, ILogger<CaptureQuestionBatchConsumer> logger)
    : IConsumer<Batch<CaptureQuestion>>
{
    public async Task Consume(ConsumeContext<Batch<CaptureQuestion>> context)
    {
        // The whole consume: with the "tokenize", "forward" and "reply" spans inside it, the worker's own cost per batch.
        using var span = ActivationsTelemetry.Source.StartActivity("capture batch");
        var questions = context.Message.Select(m => m.Message).ToArray();
        span?.SetTag("activations.questions", questions.Length);
        var foreign = questions.FirstOrDefault(q => q.ModelFingerprint != host.Fingerprint);
        if (foreign is not null)
        {
            throw new ForeignModelException(foreign.ModelFingerprint, host.Fingerprint);
        }
        var lastAttempt = context.GetRetryAttempt() >= CaptureQuestionBatchConsumerDefinition.RetryLimit;
        var captured = new List<QuestionActivationsCaptured>(questions.Length);
        var failed = new List<QuestionCaptureFailed>();
        var computed = 0;
        // A batch may mix jobs; each job's settings apply to its own questions.
        foreach (var job in questions.GroupBy(q => q.JobId))
        {
            var first = job.First();
            var items = job.DistinctBy(q => q.QuestionIndex).ToArray();
            var batchSize = Math.Min(first.BatchSize ?? options.BatchSize, options.BatchSize);
            var texts = items.Select(q => q.Text).ToArray();
            ActivationsTelemetry.QuestionsInFlight.Add(items.Length);
            IReadOnlyList<QuestionCapture> captures;
            try
            {
                // A spec this worker cannot serve (a hook outside its model, another device kind) fails its questions at once.
                var refusal = Refusal(first.Spec);
                captures = refusal is not null
                    ? items.Select(_ => new QuestionCapture(0, null, refusal)).ToArray()
                    : lastAttempt
                    ? await Task.Run(() => CaptureIsolating(texts, first.Spec, batchSize), context.CancellationToken)
                    : await Task.Run(() => host.Capture(texts, first.Spec, batchSize), context.CancellationToken);
            }
            finally
            {
                ActivationsTelemetry.QuestionsInFlight.Add(-items.Length);
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
        using (ActivationsTelemetry.Source.StartActivity("reply"))
        {
            await context.Publish(new QuestionsAnswered { Results = captured, Failures = failed }, context.CancellationToken);
        }
        span?.Dispose(); // ended before the stats are written, so the file holds this batch's time too
        options.Stats.Add(questions.Length, computed, failed.Count);
        if (options.StatsFile is { } statsFile)
        {
            options.Stats.WriteTo(statsFile, host.ForwardPasses, options.Spans);
        }
        logger.LogDebug("Captured {Count} questions ({Failed} failed)", captured.Count, failed.Count);
    }

    /// <summary>The last attempt: the batch once more, and if it throws, each question alone; one that throws alone fails with the exception's message.</summary>
    string? Refusal(Contracts.CaptureSpec spec)
    {
        try
        {
            host.Check(spec);
            return null;
        }
        catch (Contracts.InvalidInputException e)
        {
            return $"this worker cannot run the job's capture spec: {e.Message}";
        }
    }

    IReadOnlyList<QuestionCapture> CaptureIsolating(string[] texts, Contracts.CaptureSpec spec, int batchSize)
    {
        try
        {
            return host.Capture(texts, spec, batchSize);
        }
        catch (Exception e) when (e is not ForeignModelException)
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

/// <summary>A question for another model than the one this worker holds: refused, so no wrong vector is ever returned.</summary>
public sealed class ForeignModelException(string wanted, string held)
    : Exception($"this worker holds model {held}; the question is for model {wanted}");
