using Activations.Contracts.Messages;
using Activations.Worker.Capture;
using MassTransit;

namespace Activations.Worker.Messaging;

/// <summary>
/// The worker's endpoint: the queue of its model's questions. Two batches are in hand at once, so one publishes
/// its results while the other computes (the engine host runs one forward pass at a time), and a third is
/// prefetched so the device never waits for the broker.
/// </summary>
public sealed class CaptureQuestionBatchConsumerDefinition : ConsumerDefinition<CaptureQuestionBatchConsumer>
{
    /// <summary>Retries of a batch that throws; the last one isolates the questions (see the consumer).</summary>
    public const int RetryLimit = 3;

    const int BatchesInHand = 2;

    readonly WorkerOptions options;

    public CaptureQuestionBatchConsumerDefinition(IEngineHost host, WorkerOptions options)
    {
        this.options = options;
        EndpointName = QueueNames.CaptureQuestions(host.Fingerprint);
        ConcurrentMessageLimit = options.BatchSize * BatchesInHand;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<CaptureQuestionBatchConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = options.BatchSize * (BatchesInHand + 1);
        // A foreign-model question is never retried here; it goes to the error queue untouched. Anything else is
        // retried RetryLimit times; the consumer's last attempt answers every question (a result or a failure).
        consumerConfigurator.UseMessageRetry(r => r.Exponential(RetryLimit, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(500)).Ignore<ForeignModelException>());
        consumerConfigurator.Options<BatchOptions>(o => o
            .SetMessageLimit(options.BatchSize)
            .SetTimeLimit(options.BatchTimeLimit)
            .SetConcurrencyLimit(BatchesInHand));
    }
}
