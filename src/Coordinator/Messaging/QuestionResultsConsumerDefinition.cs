using Activations.Contracts.Messages;
using MassTransit;

namespace Activations.Coordinator.Messaging;

/// <summary>Results arrive far faster than questions are computed: take them 500 at a time into one insert.</summary>
public sealed class QuestionResultsConsumerDefinition : ConsumerDefinition<QuestionResultsConsumer>
{
    public const int BatchLimit = 500;

    public QuestionResultsConsumerDefinition()
    {
        EndpointName = QueueNames.Results;
        ConcurrentMessageLimit = BatchLimit * 2;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<QuestionResultsConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = BatchLimit * 2;
        consumerConfigurator.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(500)));
        consumerConfigurator.Options<BatchOptions>(o => o.SetMessageLimit(BatchLimit).SetTimeLimit(TimeSpan.FromMilliseconds(50)).SetConcurrencyLimit(2));
    }
}

public sealed class QuestionFailuresConsumerDefinition : ConsumerDefinition<QuestionFailuresConsumer>
{
    public QuestionFailuresConsumerDefinition()
    {
        EndpointName = QueueNames.Results;
        ConcurrentMessageLimit = QuestionResultsConsumerDefinition.BatchLimit * 2;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<QuestionFailuresConsumer> consumerConfigurator, IRegistrationContext context)
    {
        consumerConfigurator.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(500)));
        consumerConfigurator.Options<BatchOptions>(o => o.SetMessageLimit(100).SetTimeLimit(TimeSpan.FromMilliseconds(50)));
    }
}
