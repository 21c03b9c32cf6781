using Activations.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Activations.ServiceDefaults.Tests;

public class BusDefaultsTests
{
    static UsageTelemetryOptions Options(Action<IBusRegistrationConfigurator> configure)
    {
        var services = new ServiceCollection();
        services.AddMassTransit(x =>
        {
            configure(x);
            x.UsingInMemory();
        });
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<UsageTelemetryOptions>>().Value;
    }

    [Fact]
    public void Usage_telemetry_is_off_with_the_defaults_and_on_without_them()
    {
        Assert.False(Options(BusDefaults.Apply).Enabled);
        // MassTransit's own default, which the line above changes: the check can fail.
        Assert.True(Options(_ => { }).Enabled);
    }

    [Fact]
    public void The_host_waits_for_the_bus_at_most_the_connect_timeout()
    {
        var services = new ServiceCollection();
        services.AddBoundedBusStart(RabbitMqEndpoint.Parse("amqp://u:p@h/") with { ConnectTimeout = TimeSpan.FromSeconds(7) });
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<MassTransitHostOptions>>().Value;
        Assert.True(options.WaitUntilStarted);
        Assert.Equal(TimeSpan.FromSeconds(7), options.StartTimeout);
    }
}
