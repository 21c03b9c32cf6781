using MassTransit;
using Microsoft.Extensions.DependencyInjection;

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
    /// The host's start waits for the bus, at most the broker's connect timeout, instead of retrying in the
    /// background forever (an unreachable broker ends the process with an error).
    /// </summary>
    public static IServiceCollection AddBoundedBusStart(this IServiceCollection services, RabbitMqEndpoint? broker)
        => services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = broker?.ConnectTimeout ?? RabbitMqEndpoint.DefaultConnectTimeout;
        });
}
