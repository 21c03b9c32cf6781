using Activations.Contracts.Messages;
using Activations.GpuWorker.Capture;
using MassTransit;

namespace Activations.GpuWorker.Messaging;

/// <summary>
/// The worker's endpoint: the queue of its model's questions, prefetching two batches so the next one is ready
/// when a forward pass ends, one batch at a time (one GPU).
/// </summary>
public sealed class CaptureQuestionBatchConsumerDefinition : ConsumerDefinition<CaptureQuestionBatchConsumer>
{
    /// <summary>Retries of a batch that throws; the last one isolates the questions (see the consumer).</summary>
    public const int RetryLimit = 3;

    readonly WorkerOptions options;

    public CaptureQuestionBatchConsumerDefinition(EngineHost host, WorkerOptions options)
    {
        this.options = options;
        EndpointName = QueueNames.CaptureQuestions(host.Fingerprint);
        ConcurrentMessageLimit = options.BatchSize * 2;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<CaptureQuestionBatchConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = options.BatchSize * 2;
        // A foreign-model question is never retried here; it goes to the error queue untouched. Anything else is
        // retried RetryLimit times; the consumer's last attempt answers every question (a result or a failure).
        consumerConfigurator.UseMessageRetry(r => r.Exponential(RetryLimit, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(500)).Ignore<ForeignModelException>());
        consumerConfigurator.Options<BatchOptions>(o => o
            .SetMessageLimit(options.BatchSize)
            .SetTimeLimit(options.BatchTimeLimit)
            .SetConcurrencyLimit(1));
    }
}
