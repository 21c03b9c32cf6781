using Activations.Contracts.Messages;
using Activations.Worker.Capture;
using Activations.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace Activations.Worker.Messaging;

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
                failed.Add(Failure(question, $"the worker process died {deaths} times on it, {alone} of them running it alone"));
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
