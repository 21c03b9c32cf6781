using Activations.Contracts.Messages;
using MassTransit;
using RabbitMQ.Client;

namespace Activations.ServiceDefaults;

/// <summary>
/// How workers' replies reach the coordinator of their job, in one place for the worker, the coordinator and tests.
/// Every reply (<see cref="QuestionsAnswered"/>, one job's) is published to one direct exchange with its job's id as
/// the routing key; each job's coordinator consumes its own queue (<see cref="QueueNames.Results"/>), bound with that
/// key, so two jobs (or two coordinators on different databases) never take each other's results.
/// The queue is durable and not auto-deleted: a coordinator that is killed and run again resumes the same job (same
/// id) and finds the replies that arrived meanwhile. The coordinator deletes it once its job has every result; a
/// queue whose coordinator never came back is deleted by the broker after <see cref="QueueExpiration"/> unused.
/// </summary>
public static class ReplyTopology
{
    /// <summary>The replies' exchange (direct). Named under Activations.Contracts so the deploy's permissions cover it.</summary>
    public const string Exchange = "Activations.Contracts.Replies";

    /// <summary>An abandoned job's queue goes after a day without a consumer (a later run computes what it held again).</summary>
    public static readonly TimeSpan QueueExpiration = TimeSpan.FromDays(1);

    public static string RoutingKey(Guid jobId) => jobId.ToString("N");

    /// <summary>Every bus that publishes or consumes replies: their exchange, and the job as routing key.</summary>
    public static void Configure(IBusFactoryConfigurator bus)
    {
        bus.Message<QuestionsAnswered>(m => m.SetEntityName(Exchange));
        bus.Send<QuestionsAnswered>(s => s.UseRoutingKeyFormatter(c => RoutingKey(c.Message.JobId)));
        if (bus is IRabbitMqBusFactoryConfigurator rabbit)
        {
            rabbit.Publish<QuestionsAnswered>(p => p.ExchangeType = ExchangeType.Direct);
        }
    }

    /// <summary>
    /// The coordinator's receive endpoint for <paramref name="jobId"/>: bound to the replies' exchange by the job's key
    /// alone (RabbitMQ; the in-memory bus has one coordinator and keeps MassTransit's own binding).
    /// </summary>
    public static void ConfigureEndpoint(IReceiveEndpointConfigurator endpoint, Guid jobId)
    {
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.ConfigureConsumeTopology = false;
            rabbit.QueueExpiration = QueueExpiration;
            rabbit.Bind(Exchange, b =>
            {
                b.ExchangeType = ExchangeType.Direct;
                b.RoutingKey = RoutingKey(jobId);
            });
        }
    }

    /// <summary>Declares a job's queue as the coordinator's endpoint does, the same arguments (MassTransit writes x-expires as a long), for tools and tests that read replies.</summary>
    public static async Task DeclareAsync(IChannel channel, Guid jobId, CancellationToken cancellation = default)
    {
        var queue = QueueNames.Results(jobId);
        await channel.ExchangeDeclareAsync(Exchange, ExchangeType.Direct, durable: true, autoDelete: false, cancellationToken: cancellation);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
            new Dictionary<string, object?> { ["x-expires"] = (long)QueueExpiration.TotalMilliseconds }, cancellationToken: cancellation);
        await channel.QueueBindAsync(queue, Exchange, RoutingKey(jobId), cancellationToken: cancellation);
    }

    /// <summary>Deletes a finished job's queue and its MassTransit exchange; replies that come later are dropped by the broker.</summary>
    public static async Task DeleteAsync(IChannel channel, Guid jobId, CancellationToken cancellation = default)
    {
        var queue = QueueNames.Results(jobId);
        await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false, cancellationToken: cancellation);
        await channel.ExchangeDeleteAsync(queue, ifUnused: false, cancellationToken: cancellation);
    }
}
