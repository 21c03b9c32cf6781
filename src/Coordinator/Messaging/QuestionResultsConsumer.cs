using Activations.Contracts.Messages;
using Activations.Coordinator.Store;
using MassTransit;

namespace Activations.Coordinator.Messaging;

/// <summary>Records workers' results in batches; a result already recorded changes nothing.</summary>
public sealed class QuestionResultsConsumer(JobStore store) : IConsumer<Batch<QuestionActivationsCaptured>>
{
    public Task Consume(ConsumeContext<Batch<QuestionActivationsCaptured>> context)
        => store.RecordResultsAsync(context.Message.Select(m => m.Message).ToList(), context.CancellationToken);
}

/// <summary>Records questions a worker could not capture, with the reason.</summary>
public sealed class QuestionFailuresConsumer(JobStore store) : IConsumer<Batch<QuestionCaptureFailed>>
{
    public Task Consume(ConsumeContext<Batch<QuestionCaptureFailed>> context)
        => store.RecordFailuresAsync(context.Message.Select(m => m.Message).ToList(), context.CancellationToken);
}
