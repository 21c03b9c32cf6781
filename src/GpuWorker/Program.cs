using System.CommandLine;
using Activations.Contracts;
using Activations.GpuWorker;
using Activations.ServiceDefaults;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Activations.Worker.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var rabbitmq = new Option<string?>("--rabbitmq") { Description = $"RabbitMQ address, amqp://user:password@host:port/vhost (or {RabbitMqEndpoint.EnvironmentVariable})" };
var model = new Option<string>("--model") { Description = "A local Hugging Face model folder, or a Hub id (org/name)", Required = true };
var revision = new Option<string?>("--revision") { Description = "Hub revision: branch, tag or commit (default: main)" };
var device = new Option<string>("--device") { Description = "auto (CUDA when present), cpu, cuda, cuda:N, or a list (cuda:0,cuda:1) to split one model's layers over several GPUs", DefaultValueFactory = _ => "auto" };
var dtype = new Option<string>("--dtype") { Description = "The dtype loaded at start: auto (fp16 on CUDA, float32 on the CPU), float32, float16 or bfloat16; a job asking for another reloads", DefaultValueFactory = _ => "auto" };
var batchSize = new Option<int>("--batch-size") { Description = "Most questions per forward pass", DefaultValueFactory = _ => 32 };
var tokenBudget = new Option<int?>("--token-budget") { Description = $"Most padded tokens (questions × longest) per forward pass; questions run in micro-batches of similar lengths under it (default: {TokenBudgetBatcher.CpuDefaultTokenBudget} on the CPU, {TokenBudgetBatcher.CudaDefaultTokenBudget} on CUDA)" };
var name = new Option<string?>("--name") { Description = "This worker's name in results and logs (default: host/pid)" };
var healthPort = new Option<int?>("--health-port") { Description = $"Serve /health/live and /health/ready on this port (or {HealthEndpoint.PortEnvironmentVariable}); ready once the model is loaded and the broker connected" };
var livenessTimeout = new Option<int>("--liveness-timeout") { Description = "Liveness (/health/live) fails when questions are in hand and no batch has progressed for this many seconds", DefaultValueFactory = _ => 600 };
var rabbitmqCaFile = new Option<string?>("--rabbitmq-ca-file") { Description = $"With amqps://: trust only the CA certificates in this PEM file (or {RabbitMqEndpoint.CaFileEnvironmentVariable}); the chain and the host name are always verified" };
var connectTimeout = new Option<string?>("--connect-timeout") { Description = $"Seconds to wait for the broker before exiting with an error (or {RabbitMqEndpoint.ConnectTimeoutEnvironmentVariable}; default 60)" };
var statsFile = new Option<string?>("--stats-file") { Description = "Rewrite this file after every batch with the worker's counters (JSON: messages, questions, failed, forward_passes, and the seconds spent per span: capture batch, tokenize, forward, reply)" };
var root = new RootCommand("Activations GPU worker: holds one model on one device and answers capture questions from RabbitMQ.")
{
    rabbitmq, rabbitmqCaFile, connectTimeout, model, revision, device, dtype, batchSize, tokenBudget, name, healthPort, statsFile, livenessTimeout,
};
root.SetAction((parse, cancellation) => ConsoleHost.RunAsync(async () =>
{
    // Everything the user gave is checked here, once; the host gets typed values.
    var broker = RabbitMqEndpoint.Resolve(parse.GetValue(rabbitmq), parse.GetValue(rabbitmqCaFile), parse.GetValue(connectTimeout))
        ?? throw new InvalidInputException("--rabbitmq", $"a worker needs a broker: give --rabbitmq or set {RabbitMqEndpoint.EnvironmentVariable}");
    if (parse.GetValue(batchSize) < 1)
    {
        throw new InvalidInputException("--batch-size", "must be at least 1");
    }
    if (parse.GetValue(livenessTimeout) < 1)
    {
        throw new InvalidInputException("--liveness-timeout", "must be at least 1 second");
    }
    if (parse.GetValue(tokenBudget) is < 1)
    {
        throw new InvalidInputException("--token-budget", "must be at least 1");
    }
    // The CPU's bf16 override (ACTIVATIONS_CPU_BF16) is read, and refused if unknown, before anything starts.
    var cpu = CpuFeatures.Current;
    using var spans = parse.GetValue(statsFile) is null ? null : new SpanTotals();
    var settings = new GpuWorkerSettings(
        broker,
        new ModelRequest(parse.GetValue(model)!, parse.GetValue(revision)),
        DeviceRequest.Parse(parse.GetValue(device)!),
        OptionNames.ParseDtype(parse.GetValue(dtype)!),
        parse.GetValue(healthPort) ?? HealthEndpointExtensions.PortFromEnvironment(),
        new WorkerOptions { BatchSize = parse.GetValue(batchSize), TokenBudget = parse.GetValue(tokenBudget), Name = parse.GetValue(name) ?? new WorkerOptions().Name, StatsFile = parse.GetValue(statsFile), Spans = spans, StuckAfter = TimeSpan.FromSeconds(parse.GetValue(livenessTimeout)) });

    using var telemetry = ActivationsTelemetry.Start("activations-worker");
    var builder = Host.CreateApplicationBuilder();
    ConsoleHost.ConfigureLogging(builder.Logging);
    builder.Services.AddGpuWorker(settings);
    using var host = builder.Build();
    // A broker that refuses our certificate check or credentials, or is not there, ends the worker before the model
    // downloads: one line, exit 69, within the connect timeout.
    await broker.EnsureReachableAsync(cancellation);
    // Probes are answered while the model downloads (many minutes for a large model): live, not ready; the host's
    // start turns the checks on (ready once the model is loaded and the broker connected).
    if (host.Services.GetService<HealthEndpoint>() is { } health)
    {
        await health.StartEarlyAsync(cancellation);
    }
    // The model first (a download on a first start), so that a bad --model is one line and exit 2 before anything
    // starts; building the bus then finds it resolved.
    var resolved = await host.Services.GetRequiredService<ModelResolver>().ResolveAsync(cancellation);
    host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Activations.GpuWorker").LogInformation(
        "Worker {Worker}: model {Model} ({Fingerprint}), broker {Broker}; CPU {Processor}, native bf16: {NativeBf16} ({Basis})",
        settings.Worker.Name, resolved.Folder.Path, resolved.Fingerprint, settings.Broker, cpu.Processor, cpu.NativeBf16 ? "yes" : "no", cpu.Basis);
    await host.StartBoundedAsync(broker, cancellation);
    await host.WaitForShutdownAsync(cancellation);
    return 0;
}));
// SIGTERM is the host's to handle (it stops taking messages and finishes the batches in hand within
// WorkerOptions.ShutdownTimeout); System.CommandLine would otherwise end the process 2 s after it.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
