using Activations.Contracts.Messages;
using Activations.ServiceDefaults;
using Activations.Worker.Capture;
using MassTransit;

namespace Activations.Worker.Messaging;

/// <summary>
/// The worker's endpoint: the queue of its model's questions. Two batches are in hand at once, so one collects
/// and publishes while the other computes (the engine host runs one forward pass at a time).
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
        QuestionQueueTopology.Configure(endpointConfigurator);
        // No prefetch beyond the batches in hand: every message delivered is in a batch that runs, so a stopping
        // worker (SIGTERM) answers all it holds, and none goes back to the queue counted as a lost worker's.
        // The device still never waits: one batch collects while the other computes.
        endpointConfigurator.PrefetchCount = options.BatchSize * BatchesInHand;
        // A batch that throws is retried RetryLimit times; the consumer's last attempt answers every question (a result
        // or a failure). Bad messages (another model, a spec this worker cannot run) never reach the model: they are
        // answered as failures before it (QuestionValidator).
        consumerConfigurator.UseMessageRetry(r => r.Exponential(RetryLimit, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(500)));
        consumerConfigurator.Options<BatchOptions>(o => o
            .SetMessageLimit(options.BatchSize)
            .SetTimeLimit(options.BatchTimeLimit)
            .SetConcurrencyLimit(BatchesInHand));
    }
}

/// <summary>
/// The isolation queue's endpoint: one message in hand at a time (prefetch 1, batches of one), so a worker that dies
/// on a question is counted against that question alone.
/// </summary>
public sealed class IsolatedQuestionConsumerDefinition : ConsumerDefinition<IsolatedQuestionConsumer>
{
    public IsolatedQuestionConsumerDefinition(IEngineHost host)
    {
        EndpointName = QueueNames.IsolatedQuestions(host.Fingerprint);
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<IsolatedQuestionConsumer> consumerConfigurator, IRegistrationContext context)
    {
        QuestionQueueTopology.Configure(endpointConfigurator);
        endpointConfigurator.PrefetchCount = 1;
        consumerConfigurator.UseMessageRetry(r => r.Exponential(CaptureQuestionBatchConsumerDefinition.RetryLimit, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(500)));
        consumerConfigurator.Options<BatchOptions>(o => o.SetMessageLimit(1).SetTimeLimit(TimeSpan.FromMilliseconds(1)).SetConcurrencyLimit(1));
    }
}
