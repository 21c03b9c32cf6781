using Activations.Contracts;
using Activations.ServiceDefaults;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Activations.Worker.Loading.Hub;
using Activations.Worker.Messaging;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Activations.GpuWorker;

/// <summary>The worker's command line, validated: what its host is built from.</summary>
/// <param name="HealthPort">where /health/live and /health/ready are served; null: not served</param>
public sealed record GpuWorkerSettings(RabbitMqEndpoint Broker, ModelRequest Model, DeviceRequest Device, ComputeDtype Dtype, int? HealthPort, WorkerOptions Worker);

public static class GpuWorkerServices
{
    /// <summary>
    /// The worker's services, in the order the host starts them: the health endpoint (live at once; Program starts it
    /// before the model is resolved, so probes are answered during a download), the model's
    /// preload onto the device (ready once loaded), and the bus with the capture consumer, whose queue is named by the
    /// model's fingerprint (<see cref="ModelResolver"/>: Program resolves it before the host starts).
    /// </summary>
    public static IServiceCollection AddGpuWorker(this IServiceCollection services, GpuWorkerSettings settings)
    {
        if (settings.HealthPort is { } port)
        {
            services.AddHealthEndpoint(port)
                .AddCheck<ModelLoadedHealthCheck>(ModelLoadedHealthCheck.Name, tags: [HealthTags.Ready])
                .AddCheck<WorkProgressHealthCheck>(WorkProgressHealthCheck.Name, tags: [HealthTags.Live]);
        }
        services.AddSingleton(settings.Worker);
        services.AddGracefulShutdown(settings.Worker);
        services.AddSingleton(settings.Model);
        services.AddSingleton(HubOptions.FromEnvironment());
        services.AddSingleton<ModelResolver>();
        services.AddEngineHost(settings.Device);
        services.AddHostedService(sp => new ModelPreloadService(
            sp.GetRequiredService<IEngineHost>(),
            PreloadSpec(sp.GetRequiredService<ModelResolver>().Resolved.Folder, settings),
            sp.GetRequiredService<ILogger<ModelPreloadService>>()));
        services.AddBoundedBusStart(settings.Broker);
        services.AddMassTransit(x =>
        {
            BusDefaults.Apply(x);
            x.AddCaptureWorker();
            x.UsingRabbitMq((context, rabbit) =>
            {
                settings.Broker.Configure(rabbit);
                BusDefaults.Configure(rabbit);
                rabbit.ConfigureEndpoints(context);
            });
        });
        return services;
    }

    /// <summary>What the model is loaded for at start: the default layers that exist in it (else its last), in the dtype asked for.</summary>
    static CaptureSpec PreloadSpec(ModelFolder folder, GpuWorkerSettings settings) => new()
    {
        Hooks = [.. HookSelection.DefaultLayers.Where(l => l < folder.Config.NumHiddenLayers).DefaultIfEmpty(folder.Config.NumHiddenLayers - 1).Select(HookPoint.ResidPost)],
        Device = settings.Device.Kind,
        Dtype = settings.Dtype,
    };
}
