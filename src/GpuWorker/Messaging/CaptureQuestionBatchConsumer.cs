using Activations.Contracts.Messages;
using Activations.GpuWorker.Capture;
using Activations.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace Activations.GpuWorker.Messaging;

/// <summary>
/// Fills a GPU batch from the model's question queue, runs it, and publishes one result per question.
/// Answers only for the model it holds: a question for another model is refused, never answered.
/// </summary>
public sealed class CaptureQuestionBatchConsumer(EngineHost host, WorkerOptions options, ILogger<CaptureQuestionBatchConsumer> logger)
    : IConsumer<Batch<CaptureQuestion>>
{
    public async Task Consume(ConsumeContext<Batch<CaptureQuestion>> context)
    {
        var questions = context.Message.Select(m => m.Message).ToArray();
        var foreign = questions.FirstOrDefault(q => q.ModelFingerprint != host.Fingerprint);
        if (foreign is not null)
        {
            throw new ForeignModelException(foreign.ModelFingerprint, host.Fingerprint);
        }
        var captured = new List<QuestionActivationsCaptured>(questions.Length);
        var failed = new List<QuestionCaptureFailed>();
        // A batch may mix jobs; each job's settings apply to its own questions.
        foreach (var job in questions.GroupBy(q => q.JobId))
        {
            var first = job.First();
            var items = job.DistinctBy(q => q.QuestionIndex).ToArray();
            var batchSize = Math.Min(first.BatchSize ?? options.BatchSize, options.BatchSize);
            ActivationsTelemetry.QuestionsInFlight.Add(items.Length);
            IReadOnlyList<QuestionCapture> captures;
            try
            {
                captures = await Task.Run(() => host.Capture(items.Select(q => q.Text).ToArray(), first.Settings, batchSize), context.CancellationToken);
            }
            finally
            {
                ActivationsTelemetry.QuestionsInFlight.Add(-items.Length);
            }
            var dtype = host.Target!.DtypeName;
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
                        Layers = [.. first.Settings.Layers],
                        Hidden = vectors[0].Length,
                        Vectors = QuestionActivationsCaptured.Pack(vectors),
                        TokenCount = capture.TokenCount,
                        Dtype = dtype,
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
        await context.PublishBatch(captured, context.CancellationToken);
        if (failed.Count > 0)
        {
            await context.PublishBatch(failed, context.CancellationToken);
        }
        logger.LogDebug("Captured {Count} questions ({Failed} failed)", captured.Count, failed.Count);
    }
}

/// <summary>A question for another model than the one this worker holds: refused, so no wrong vector is ever returned.</summary>
public sealed class ForeignModelException(string wanted, string held)
    : Exception($"this worker holds model {held}; the question is for model {wanted}");
