using System.Diagnostics;
using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.ServiceDefaults;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Activations.Worker.Messaging;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// The production worker's consumers on the CPU, with one test hook: the process kills itself (SIGKILL, as the
// kernel's OOM killer or a native crash would end it) whenever it is about to compute a question containing
// ACTIVATIONS_TEST_DIE_ON. Arguments: --rabbitmq URL --model FOLDER [--name NAME] [--batch-size N].
var arguments = new Dictionary<string, string>();
for (var i = 0; i + 1 < args.Length; i += 2)
{
    arguments[args[i]] = args[i + 1];
}
var dieOn = Environment.GetEnvironmentVariable(DieOnQuestion.Variable) is { Length: > 0 } text ? text : null;
var options = new WorkerOptions
{
    Name = arguments.GetValueOrDefault("--name") ?? new WorkerOptions().Name,
    BatchSize = int.Parse(arguments.GetValueOrDefault("--batch-size") ?? "8"),
};
var folder = ModelFolder.Open(arguments["--model"]);
var builder = Host.CreateApplicationBuilder();
ConsoleHost.ConfigureLogging(builder.Logging);
builder.Services.AddSingleton(sp => new EngineHost(folder, ComputeDevice.Cpu, sp.GetRequiredService<ILogger<EngineHost>>()));
builder.Services.AddSingleton(options);
builder.Services.AddMassTransit(x =>
{
    x.AddCaptureWorker();
    if (dieOn is not null)
    {
        x.AddConfigureEndpointsCallback((name, endpoint) => endpoint.UseFilter(new DieOnQuestion(dieOn, name.EndsWith("-isolated", StringComparison.Ordinal), options.DeathLimit)));
    }
    x.UsingRabbitMq((context, bus) =>
    {
        RabbitMqEndpoint.Parse(arguments["--rabbitmq"]).Configure(bus);
        bus.ConfigureEndpoints(context);
    });
});
using var app = builder.Build();
await app.RunAsync();

/// <summary>
/// Kills the process when a question containing <paramref name="text"/> would be computed: on the question queue a
/// first delivery (a redelivered one is moved to isolation, not computed); on the isolation queue while its deaths
/// are under the limit (at the limit the worker answers it as failed without computing).
/// </summary>
sealed class DieOnQuestion(string text, bool isolated, int deathLimit) : IFilter<ConsumeContext>
{
    public const string Variable = "ACTIVATIONS_TEST_DIE_ON";

    public Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        if (context.TryGetMessage<CaptureQuestion>(out var question) && question.Message.Text.Contains(text, StringComparison.Ordinal))
        {
            var deaths = QuestionQueueTopology.PreviousDeliveries(context.ReceiveContext.TransportHeaders);
            if (isolated ? deaths < deathLimit : deaths == 0)
            {
                Console.Error.WriteLine($"test worker: dying on question {question.Message.PairId} (deaths so far {deaths}, {(isolated ? "isolated" : "in a batch")})");
                Console.Error.Flush();
                Process.GetCurrentProcess().Kill();
            }
        }
        return next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("die-on-question");
}
