using Activations.ServiceDefaults;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace Activations.Coordinator.Messaging;

/// <summary>A question queue as the broker sees it: messages waiting and consumers attached.</summary>
public sealed record QueueState(uint Waiting, uint Consumers);

/// <summary>
/// The coordinator's own RabbitMQ connection for what MassTransit does not expose: it declares a job's question
/// queue before the first publish and reads the queue's depth and consumer count (a passive declare) while the job
/// waits. A broker that cannot be reached reads as unknown, never as "no consumer".
/// </summary>
public sealed class QuestionQueueWatch(RabbitMqEndpoint broker, ILogger logger) : IAsyncDisposable
{
    readonly ConnectionFactory factory = broker.CreateConnectionFactory();
    IConnection? connection;
    IChannel? channel;

    public async Task DeclareAsync(string queue, CancellationToken cancellation)
        => await QuestionQueueTopology.DeclareAsync(await ChannelAsync(cancellation), queue, cancellation);

    /// <summary>Deletes a finished job's results queue; a broker that cannot be reached leaves it to expire (ReplyTopology).</summary>
    public async Task DeleteResultsQueueAsync(Guid jobId, CancellationToken cancellation)
    {
        try
        {
            await ReplyTopology.DeleteAsync(await ChannelAsync(cancellation), jobId, cancellation);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("Could not delete the results queue of job {JobId} (the broker deletes it after {Hours:F0} h unused): {Error}", jobId, ReplyTopology.QueueExpiration.TotalHours, e.Message);
            await ResetAsync();
        }
    }

    /// <summary>The queue's state; null when the broker cannot be reached or the queue does not exist.</summary>
    public async Task<QueueState?> StateAsync(string queue, CancellationToken cancellation)
    {
        try
        {
            var declared = await (await ChannelAsync(cancellation)).QueueDeclarePassiveAsync(queue, cancellation);
            return new QueueState(declared.MessageCount, declared.ConsumerCount);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A missing queue closes the channel; an unreachable broker fails the connection: both are retried next time.
            logger.LogDebug("Could not read the state of {Queue}: {Error}", queue, e.Message);
            await ResetAsync();
            return null;
        }
    }

    async Task<IChannel> ChannelAsync(CancellationToken cancellation)
    {
        if (connection is not { IsOpen: true })
        {
            await ResetAsync();
            connection = await factory.CreateConnectionAsync(cancellation);
        }
        if (channel is not { IsOpen: true })
        {
            channel = await connection.CreateChannelAsync(cancellationToken: cancellation);
        }
        return channel;
    }

    async Task ResetAsync()
    {
        try
        {
            if (channel is not null)
            {
                await channel.DisposeAsync();
            }
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
        catch (Exception e)
        {
            logger.LogDebug("Closing the monitor connection: {Error}", e.Message);
        }
        channel = null;
        connection = null;
    }

    public async ValueTask DisposeAsync() => await ResetAsync();
}
