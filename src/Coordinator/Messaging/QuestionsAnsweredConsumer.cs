using Activations.Contracts.Messages;
using Activations.Coordinator.Store;
using MassTransit;

namespace Activations.Coordinator.Messaging;

/// <summary>
/// Records workers' replies (each one batch's results and failures); replies that arrive together are recorded
/// in one insert. A result already recorded changes nothing. A result the store rejects (<see cref="ResultValidator"/>)
/// is rejected alone, the good ones of the same reply are stored; its question stays missing and is asked again, and
/// after <see cref="RejectedResults.Limit"/> rejections it is recorded as failed, so a worker that always answers
/// wrongly cannot keep a job waiting.
/// </summary>
public sealed class QuestionsAnsweredConsumer(JobStore store, RejectedResults rejections) : IConsumer<Batch<QuestionsAnswered>>
{
    public async Task Consume(ConsumeContext<Batch<QuestionsAnswered>> context)
    {
        var replies = context.Message.Select(m => m.Message).ToList();
        var results = replies.SelectMany(r => r.Results).ToList();
        var failures = replies.SelectMany(r => r.Failures).ToList();
        if (failures.Count > 0)
        {
            await store.RecordFailuresAsync(failures, context.CancellationToken);
        }
        if (results.Count == 0)
        {
            return;
        }
        var recorded = await store.RecordCheckedResultsAsync(results, context.CancellationToken);
        if (recorded.Rejected.Count == 0)
        {
            return;
        }
        var (askAgain, giveUp) = rejections.Count(recorded.Rejected);
        var questions = await store.QuestionsToAskAgainAsync([.. askAgain.Concat(giveUp).Select(r => (r.JobId, r.QuestionIndex))], context.CancellationToken);
        if (giveUp.Count > 0)
        {
            await store.RecordFailuresAsync([.. giveUp.Where(r => questions.ContainsKey((r.JobId, r.QuestionIndex))).Select(r => new QuestionCaptureFailed
            {
                JobId = r.JobId,
                QuestionIndex = r.QuestionIndex,
                PairId = questions[(r.JobId, r.QuestionIndex)].Question.PairId,
                Reason = $"its results were rejected {RejectedResults.Limit} times (the last from worker {r.Worker}: {r.Reason})",
                Worker = r.Worker,
            })], context.CancellationToken);
        }
        // RabbitMQ: the queue exists (the job's coordinator declared it); send to its exchange, as the coordinator does.
        var rabbit = context.ReceiveContext.InputAddress.Scheme.StartsWith("rabbitmq", StringComparison.Ordinal);
        foreach (var model in askAgain.Where(r => questions.ContainsKey((r.JobId, r.QuestionIndex))).Select(r => questions[(r.JobId, r.QuestionIndex)]).GroupBy(q => q.Fingerprint))
        {
            var queue = QueueNames.CaptureQuestions(model.Key);
            var endpoint = await context.GetSendEndpoint(new Uri(rabbit ? $"exchange:{queue}" : $"queue:{queue}"));
            await endpoint.SendBatch(model.Select(q => new CaptureQuestion
            {
                JobId = q.Question.JobId,
                QuestionIndex = q.Question.QuestionIndex,
                PairId = q.Question.PairId,
                Text = q.Question.Text,
                ModelFingerprint = q.Fingerprint,
                Spec = q.Spec,
            }), context.CancellationToken);
        }
    }
}
