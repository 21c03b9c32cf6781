using Activations.Contracts;
using Activations.Coordinator.Messaging;
using Activations.Coordinator.Store;
using Activations.Worker.Loading;
using Activations.Worker.Loading.Hub;
using Activations.ServiceDefaults;
using Activations.Worker.Messaging;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Activations.Coordinator.Jobs;

/// <summary>
/// The coordinator process's one host, built from a validated run: the store, the model, the bus with the result
/// consumers (and the local worker's consumer when the run has one), and the <see cref="JobRunner"/>. The host is
/// not started as a service: the job starts the bus itself once its rows are in the store, so no result is consumed
/// before the store can record it.
/// </summary>
public static class CoordinatorHost
{
    public static IHost Build(ValidatedJob run, Action<ILoggingBuilder> configureLogging)
    {
        var builder = Host.CreateApplicationBuilder();
        configureLogging(builder.Logging);
        var services = builder.Services;
        services.AddSingleton(run.Model);
        services.AddSingleton(HubOptions.FromEnvironment());
        services.AddSingleton<ModelResolver>();
        services.AddStore(run.Postgres is null ? StoreConnection.EmbeddedIn(run.Out) : StoreConnection.Postgres(run.Postgres));
        if (run.RunsLocalWorker)
        {
            // The device as asked: the engine host resolves auto here, as the job's spec does (a local worker is on this machine).
            services.AddEngineHost(run.Devices ?? DeviceRequest.Of(run.Capture.Device));
            services.AddSingleton(new WorkerOptions { BatchSize = run.BatchSize ?? new WorkerOptions().BatchSize, Name = $"local/{Environment.ProcessId}" });
        }
        services.AddMassTransit(x =>
        {
            BusDefaults.Apply(x);
            // Each job connects its own results queue once it has an id (JobResultsEndpoint).
            x.AddConsumer<QuestionsAnsweredConsumer, QuestionsAnsweredConsumerDefinition>().ExcludeFromConfigureEndpoints();
            if (run.RunsLocalWorker)
            {
                x.AddCaptureWorker();
            }
            if (run.Broker is { } broker)
            {
                x.UsingRabbitMq((context, bus) =>
                {
                    broker.Configure(bus);
                    BusDefaults.Configure(bus);
                    bus.ConfigureEndpoints(context);
                });
            }
            else
            {
                x.UsingInMemory((context, bus) =>
                {
                    BusDefaults.Configure(bus);
                    bus.ConfigureEndpoints(context);
                });
            }
        });
        // Built on first use: the local worker's queue is named by the model's fingerprint, which the job resolves first.
        services.AddSingleton<Func<IBusControl>>(sp => () => sp.GetRequiredService<IBusControl>());
        services.AddSingleton<RejectedResults>();
        services.AddSingleton<JobResultsEndpoint>();
        services.AddSingleton<StoredResultsReader>();
        services.AddSingleton<RunFilesAssembler>();
        services.AddSingleton<JobRunner>();
        services.AddSingleton<PromptCaptureRunner>();
        return builder.Build();
    }

    /// <summary>Builds the host for <paramref name="run"/> and runs the job in it.</summary>
    public static async Task<JobOutcome> RunAsync(ValidatedRun run, Action<ILoggingBuilder> configureLogging, CancellationToken cancellation)
    {
        using var host = Build(run, configureLogging);
        return await host.Services.GetRequiredService<JobRunner>().RunAsync(run, cancellation);
    }

    /// <summary>Builds the host for <paramref name="capture"/> and runs the `capture` job in it.</summary>
    public static async Task<JobOutcome> CaptureAsync(ValidatedCapture capture, Action<ILoggingBuilder> configureLogging, CancellationToken cancellation)
    {
        using var host = Build(capture, configureLogging);
        return await host.Services.GetRequiredService<PromptCaptureRunner>().RunAsync(capture, cancellation);
    }

    /// <summary>The host of the `status` command: the store alone.</summary>
    public static IHost BuildForStatus(StoreConnection connection, Action<ILoggingBuilder> configureLogging)
    {
        var builder = Host.CreateApplicationBuilder();
        configureLogging(builder.Logging);
        builder.Services.AddStore(connection);
        return builder.Build();
    }

    static IServiceCollection AddStore(this IServiceCollection services, StoreConnection connection)
        => services.AddSingleton(sp => new JobStore(connection, sp.GetRequiredService<ILogger<JobStore>>()));
}
