using System.CommandLine;
using Activations.Contracts;
using Activations.GpuWorker.Capture;
using Activations.GpuWorker.Loading;
using Activations.GpuWorker.Loading.Hub;
using Activations.GpuWorker.Messaging;
using Activations.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var rabbitmq = new Option<string?>("--rabbitmq") { Description = $"RabbitMQ address, amqp://user:password@host:port/vhost (or {RabbitMqEndpoint.EnvironmentVariable})" };
var model = new Option<string>("--model") { Description = "A local Hugging Face model folder, or a Hub id (org/name)", Required = true };
var revision = new Option<string?>("--revision") { Description = "Hub revision: branch, tag or commit (default: main)" };
var device = new Option<string>("--device") { Description = "auto (CUDA when present), cpu or cuda", DefaultValueFactory = _ => "auto" };
var batchSize = new Option<int>("--batch-size") { Description = "Most questions per forward pass", DefaultValueFactory = _ => 32 };
var name = new Option<string?>("--name") { Description = "This worker's name in results and logs (default: host/pid)" };
var statsFile = new Option<string?>("--stats-file") { Description = "Rewrite this file after every batch with the worker's counters (JSON: messages, questions, failed, forward_passes)" };
var root = new RootCommand("Activations GPU worker: holds one model on one device and answers capture questions from RabbitMQ.")
{
    rabbitmq, model, revision, device, batchSize, name, statsFile,
};
root.SetAction((parse, cancellation) => ConsoleHost.RunAsync(async () =>
{
    var address = parse.GetValue(rabbitmq) ?? Environment.GetEnvironmentVariable(RabbitMqEndpoint.EnvironmentVariable)
        ?? throw new InvalidInputException("--rabbitmq", $"a worker needs a broker: give --rabbitmq or set {RabbitMqEndpoint.EnvironmentVariable}");
    var broker = RabbitMqEndpoint.Parse(address);
    if (!OptionNames.TryParseDevice(parse.GetValue(device)!, out var computeDevice))
    {
        throw new InvalidInputException("--device", $"unknown device '{parse.GetValue(device)}': use auto, cpu or cuda");
    }
    if (parse.GetValue(batchSize) < 1)
    {
        throw new InvalidInputException("--batch-size", "must be at least 1");
    }
    var options = new WorkerOptions { BatchSize = parse.GetValue(batchSize), Name = parse.GetValue(name) ?? new WorkerOptions().Name, StatsFile = parse.GetValue(statsFile) };

    var builder = Host.CreateApplicationBuilder();
    ConsoleHost.ConfigureLogging(builder.Logging);
    using var loggers = LoggerFactory.Create(l => ConsoleHost.ConfigureLogging(l));
    var logger = loggers.CreateLogger("Activations.GpuWorker");
    using var locator = new HubModelLocator(HubOptions.FromEnvironment(), logger);
    var folder = ModelFolder.Open(await locator.ResolveAsync(parse.GetValue(model)!, parse.GetValue(revision), cancellation));
    var host = new EngineHost(folder, computeDevice, loggers.CreateLogger<EngineHost>());
    logger.LogInformation("Worker {Worker}: model {Model} ({Fingerprint}), broker {Broker}", options.Name, folder.Path, host.Fingerprint, broker);

    builder.Services.AddSingleton(host);
    builder.Services.AddSingleton(options);
    builder.Services.AddMassTransit(x =>
    {
        x.AddCaptureWorker();
        x.UsingRabbitMq((context, bus) =>
        {
            broker.Configure(bus);
            bus.ConfigureEndpoints(context);
        });
    });
    using var app = builder.Build();
    await app.RunAsync(cancellation);
    return 0;
}));
return await root.Parse(args).InvokeAsync();
