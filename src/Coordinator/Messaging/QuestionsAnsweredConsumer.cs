using Activations.Contracts.Messages;
using Activations.Coordinator.Store;
using MassTransit;

namespace Activations.Coordinator.Messaging;

/// <summary>
/// Records workers' replies (each one batch's results and failures); replies that arrive together are recorded
/// in one insert. A result already recorded changes nothing.
/// </summary>
public sealed class QuestionsAnsweredConsumer(JobStore store) : IConsumer<Batch<QuestionsAnswered>>
{
    public async Task Consume(ConsumeContext<Batch<QuestionsAnswered>> context)
    {
        var replies = context.Message.Select(m => m.Message).ToList();
        var results = replies.SelectMany(r => r.Results).ToList();
        var failures = replies.SelectMany(r => r.Failures).ToList();
        if (results.Count > 0)
        {
            await store.RecordResultsAsync(results, context.CancellationToken);
        }
        if (failures.Count > 0)
        {
            await store.RecordFailuresAsync(failures, context.CancellationToken);
        }
    }
}
