using MassTransit;
using RabbitMQ.Client;

namespace Activations.ServiceDefaults;

/// <summary>
/// How a model's question queue is declared, in one place for the worker (its receive endpoints) and the coordinator
/// (which declares the queue before it publishes, so questions wait for workers that start later). RabbitMQ refuses a
/// second declaration with other arguments, so both sides must declare exactly this.
/// Quorum queues: the broker counts each message's deliveries (<c>x-delivery-count</c>) across worker processes,
/// so a question that kills its worker is recognised after a bounded number of deaths.
/// </summary>
public static class QuestionQueueTopology
{
    public const string QueueType = "quorum";

    /// <summary>The header in which a quorum queue carries how often a message was delivered before (returned by a dead consumer).</summary>
    public const string DeliveryCountHeader = "x-delivery-count";

    /// <summary>The arguments of every question queue.</summary>
    public static IDictionary<string, object?> Arguments => new Dictionary<string, object?> { ["x-queue-type"] = QueueType };

    /// <summary>A worker's receive endpoint on a question queue.</summary>
    public static void Configure(IReceiveEndpointConfigurator endpoint)
    {
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.SetQuorumQueue();
        }
    }

    /// <summary>
    /// Declares the queue as a worker's endpoint does (MassTransit: a fanout exchange of the same name, bound to the
    /// queue), so messages sent to the exchange wait in the queue before any worker has started.
    /// </summary>
    public static async Task DeclareAsync(IChannel channel, string queue, CancellationToken cancellation)
    {
        await channel.ExchangeDeclareAsync(queue, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellation);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, Arguments, cancellationToken: cancellation);
        await channel.QueueBindAsync(queue, queue, "", cancellationToken: cancellation);
    }

    /// <summary>
    /// On a question moved to the isolation queue: how often workers were lost holding it on the question queue (the
    /// broker's count there, which the isolation queue's own count starts again from 0).
    /// </summary>
    public const string LossesInBatchesHeader = "Activations-Losses-In-Batches";

    /// <summary>How often the message in hand was delivered to a consumer that was lost holding it (0 for a first delivery).</summary>
    public static int PreviousDeliveries(MassTransit.Headers transportHeaders) => Count(transportHeaders, DeliveryCountHeader);

    /// <summary>The losses on the question queue a moved question carries (0 when it has none).</summary>
    public static int LossesInBatches(MassTransit.Headers transportHeaders) => Count(transportHeaders, LossesInBatchesHeader);

    public static void SetLossesInBatches(MassTransit.SendHeaders headers, int losses) => headers.Set(LossesInBatchesHeader, losses);

    static int Count(MassTransit.Headers headers, string name) => headers.Get<object>(name) switch
    {
        null => 0,
        long l => (int)Math.Clamp(l, 0, int.MaxValue),
        int i => Math.Max(i, 0),
        var other => int.TryParse(other.ToString(), out var parsed) ? Math.Max(parsed, 0) : 0,
    };
}
