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
