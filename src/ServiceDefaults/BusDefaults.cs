using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Activations.ServiceDefaults;

/// <summary>What every MassTransit bus in this system is configured with, whichever host builds it.</summary>
public static class BusDefaults
{
    /// <summary>
    /// MassTransit's usage telemetry (on by default since 8.4: it posts to usage-tracking.masstransit.io) is off:
    /// a process talks only to the broker, the database and the collector it was given.
    /// </summary>
    public static void Apply(IBusRegistrationConfigurator bus) => bus.DisableUsageTelemetry();

    /// <summary>
    /// What every bus's transport is configured with (the worker's, the coordinator's, in memory or RabbitMQ, and any
    /// tool's that sends or reads these messages): the replies' routing (<see cref="ReplyTopology"/>), and raw JSON
    /// bodies, the message alone, its headers in the transport's headers, instead of MassTransit's envelope around it
    /// (host, addresses, message types: most of a question's bytes). Envelope messages are still read.
    /// </summary>
    public static void Configure(IBusFactoryConfigurator bus)
    {
        ReplyTopology.Configure(bus);
        // MassTransit 8.5's Default is AddTransportHeaders | CopyHeaders. Without CopyHeaders: a message sent while
        // consuming would carry the consumed one's headers, x-delivery-count among them, and a question moved to
        // isolation would arrive there already counted as a death (CrashLoopTests failed once so).
        bus.UseRawJsonSerializer(RawSerializerOptions.AddTransportHeaders, isDefault: true);
    }

    /// <summary>
    /// The host's start waits for the bus, at most the broker's connect timeout, instead of retrying in the
    /// background forever (an unreachable broker ends the process with an error).
    /// </summary>
    public static IServiceCollection AddBoundedBusStart(this IServiceCollection services, RabbitMqEndpoint? broker)
        => services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = broker?.ConnectTimeout ?? RabbitMqEndpoint.DefaultConnectTimeout;
        });

    /// <summary>
    /// Starts the host; a bus that did not start within the connect timeout (see <see cref="AddBoundedBusStart"/>) is
    /// a <see cref="ServiceUnreachableException"/> naming the broker, not a cancellation.
    /// </summary>
    public static async Task StartBoundedAsync(this IHost host, RabbitMqEndpoint? broker, CancellationToken cancellation)
    {
        try
        {
            await host.StartAsync(cancellation).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellation.IsCancellationRequested && broker is not null)
        {
            throw new ServiceUnreachableException($"RabbitMQ at {broker}: the bus did not start within {broker.ConnectTimeout.TotalSeconds:0.#} s ({RabbitMqEndpoint.ConnectTimeoutEnvironmentVariable} or --connect-timeout)", e);
        }
    }

    /// <summary>Starts a bus the caller controls, within the broker's connect timeout (unbounded in memory).</summary>
    public static async Task StartBoundedAsync(this IBusControl bus, RabbitMqEndpoint? broker, CancellationToken cancellation)
    {
        if (broker is null)
        {
            await bus.StartAsync(cancellation).ConfigureAwait(false);
            return;
        }
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        limit.CancelAfter(broker.ConnectTimeout);
        try
        {
            await bus.StartAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellation.IsCancellationRequested)
        {
            throw new ServiceUnreachableException($"RabbitMQ at {broker}: the bus did not start within {broker.ConnectTimeout.TotalSeconds:0.#} s ({RabbitMqEndpoint.ConnectTimeoutEnvironmentVariable} or --connect-timeout)", e);
        }
    }
}
