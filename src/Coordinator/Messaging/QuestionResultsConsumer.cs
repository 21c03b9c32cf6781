using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.Coordinator.Store;
using MassTransit;

namespace Activations.Coordinator.Messaging;

/// <summary>
/// Records workers' results in batches; a result already recorded changes nothing. A result the store rejects
/// (<see cref="ResultValidator"/>) leaves its question missing, and the question is asked again; after
/// <see cref="RejectedResults.Limit"/> rejections it is recorded as failed, so a worker that always answers wrongly
/// cannot keep a job waiting.
/// </summary>
public sealed class QuestionResultsConsumer(JobStore store, RejectedResults rejections) : IConsumer<Batch<QuestionActivationsCaptured>>
{
    public async Task Consume(ConsumeContext<Batch<QuestionActivationsCaptured>> context)
    {
        var recorded = await store.RecordCheckedResultsAsync(context.Message.Select(m => m.Message).ToList(), context.CancellationToken);
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

/// <summary>How often each question's results were rejected (in this coordinator): a bound on asking again.</summary>
public sealed class RejectedResults
{
    public const int Limit = 3;

    readonly Dictionary<(Guid, int), int> counts = [];

    /// <summary>Counts the rejections; the questions to ask again, and those rejected <see cref="Limit"/> times.</summary>
    public (List<RejectedResult> AskAgain, List<RejectedResult> GiveUp) Count(IReadOnlyList<RejectedResult> rejected)
    {
        var again = new List<RejectedResult>();
        var giveUp = new List<RejectedResult>();
        lock (counts)
        {
            foreach (var r in rejected.DistinctBy(r => (r.JobId, r.QuestionIndex)))
            {
                var n = counts[(r.JobId, r.QuestionIndex)] = counts.GetValueOrDefault((r.JobId, r.QuestionIndex)) + 1;
                (n >= Limit ? giveUp : again).Add(r);
            }
        }
        return (again, giveUp);
    }
}

/// <summary>Records questions a worker could not capture, with the reason.</summary>
public sealed class QuestionFailuresConsumer(JobStore store) : IConsumer<Batch<QuestionCaptureFailed>>
{
    public Task Consume(ConsumeContext<Batch<QuestionCaptureFailed>> context)
        => store.RecordFailuresAsync(context.Message.Select(m => m.Message).ToList(), context.CancellationToken);
}
