using Activations.Contracts;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Activations.Worker.Messaging;

public static class WorkerRegistration
{
    /// <summary>Adds the capture consumers; they need <see cref="AddEngineHost"/> and <see cref="WorkerOptions"/> in the container.</summary>
    public static void AddCaptureWorker(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<CaptureQuestionBatchConsumer, CaptureQuestionBatchConsumerDefinition>();
        bus.AddConsumer<IsolatedQuestionConsumer, IsolatedQuestionConsumerDefinition>();
        bus.TryAddSingleton<IsolationGate>();
        bus.AddReceiveObserver(sp => sp.GetRequiredService<IsolationGate>());
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

    /// <summary>
    /// The process's one <see cref="IEngineHost"/> on <paramref name="device"/>, under the container's
    /// <see cref="WorkerOptions.TokenBudget"/>, for the model the container's
    /// <see cref="ModelResolver"/> resolves. The consumer's queue is named by the model's fingerprint, so building the
    /// bus needs the model: the hosts resolve it first (asynchronously, so a bad --model is reported as bad input).
    /// </summary>
    public static IServiceCollection AddEngineHost(this IServiceCollection services, ComputeDevice device) => services.AddEngineHost(DeviceRequest.Of(device));

    /// <summary>As above, on a device list (cuda:0,cuda:1): one model split over the devices.</summary>
    public static IServiceCollection AddEngineHost(this IServiceCollection services, DeviceRequest device)
    {
        services.AddSingleton(sp =>
        {
            var model = sp.GetRequiredService<ModelResolver>().Resolved;
            return new EngineHost(model.Folder, device, sp.GetRequiredService<ILogger<EngineHost>>(), model.Fingerprint, sp.GetRequiredService<WorkerOptions>().TokenBudget);
        });
        services.AddSingleton<IEngineHost>(sp => sp.GetRequiredService<EngineHost>());
        return services;
    }
}
