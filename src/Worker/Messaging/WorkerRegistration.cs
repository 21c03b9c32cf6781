using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Activations.Worker.Messaging;

public static class WorkerRegistration
{
    /// <summary>Adds the capture consumer; it needs an <see cref="Capture.EngineHost"/> and <see cref="WorkerOptions"/> in the container.</summary>
    public static void AddCaptureWorker(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<CaptureQuestionBatchConsumer, CaptureQuestionBatchConsumerDefinition>();
        bus.AddConsumer<IsolatedQuestionConsumer, IsolatedQuestionConsumerDefinition>();
    }

    /// <summary>
    /// A stopping worker (SIGTERM) stops taking messages, finishes and answers the batches in hand, then exits: the
    /// host and the bus wait up to <see cref="WorkerOptions.ShutdownTimeout"/> (the host's default is 30 s).
    /// </summary>
    public static IServiceCollection AddGracefulShutdown(this IServiceCollection services, WorkerOptions options)
    {
        services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        services.Configure<MassTransitHostOptions>(o =>
        {
            o.StopTimeout = options.ShutdownTimeout - TimeSpan.FromSeconds(5);
            // Without it MassTransit cancels every ConsumeContext.CancellationToken the moment a stop begins, and a
            // finished batch could not be published; with it the consumers get this long first.
            o.ConsumerStopTimeout = options.ShutdownTimeout - TimeSpan.FromSeconds(10);
        });
        return services;
    }
}
