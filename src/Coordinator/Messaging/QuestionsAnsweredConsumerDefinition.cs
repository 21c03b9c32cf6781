using MassTransit;

namespace Activations.Coordinator.Messaging;

/// <summary>
/// A job's results queue (connected per job by <see cref="JobResultsEndpoint"/>). Each reply holds a whole worker batch; several workers' replies that arrive within a few
/// milliseconds are taken together into one insert, and two inserts run at once.
/// </summary>
public sealed class QuestionsAnsweredConsumerDefinition : ConsumerDefinition<QuestionsAnsweredConsumer>
{
    public const int RepliesPerInsert = 16;

    public QuestionsAnsweredConsumerDefinition()
    {
        ConcurrentMessageLimit = RepliesPerInsert * 2;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<QuestionsAnsweredConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = RepliesPerInsert * 2;
        consumerConfigurator.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(500)));
        consumerConfigurator.Options<BatchOptions>(o => o.SetMessageLimit(RepliesPerInsert).SetTimeLimit(TimeSpan.FromMilliseconds(20)).SetConcurrencyLimit(2));
    }
}
