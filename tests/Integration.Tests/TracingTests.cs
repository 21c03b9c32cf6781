using System.Diagnostics;
using Activations.Coordinator.Jobs;
using Activations.Coordinator.Tests;
using Activations.ServiceDefaults;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Activations.Integration.Tests;

/// <summary>One job is one trace: the coordinator's publishes, the worker's consumes and forward passes, and the recording.</summary>
public class TracingTests
{
    static List<Activity> Ancestors(Activity span, IReadOnlyDictionary<ActivitySpanId, Activity> byId)
    {
        var chain = new List<Activity>();
        var current = span;
        while (current.ParentSpanId != default && byId.TryGetValue(current.ParentSpanId, out var parent))
        {
            chain.Add(parent);
            current = parent;
        }
        return chain;
    }

    [Fact]
    public async Task A_distributed_job_through_rabbitmq_is_one_trace()
    {
        await using var servers = await TestServers.IsolateAsync();
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(ActivationsTelemetry.Name, ActivationsTelemetry.MassTransitName)
            .AddInMemoryExporter(spans)
            .Build();
        using var temp = new TempFolder();
        var run = ValidatedRun.Validate(new RunOptions
        {
            Scores = EngineReference.SampleData("faithfulness_scores.csv"),
            Responses = EngineReference.SampleData("model_1.5B_responses.jsonl"),
            Model = EngineReference.TinyModel,
            Out = Path.Combine(temp.Path, "out"),
            MaxFaithful = 10,
            MaxUnfaithful = 10,
            BatchSize = 4,
            Device = "cpu",
            RabbitMq = servers.RabbitMq,
            Postgres = servers.Postgres,
            LocalWorker = true,
        });
        var outcome = await CoordinatorHost.RunAsync(run, l => l.ClearProviders(), CancellationToken.None);
        tracing.ForceFlush();

        List<Activity> all;
        lock (spans)
        {
            all = [.. spans];
        }
        var root = Assert.Single(all, s => s.DisplayName == "job" && Equals(s.GetTagItem("activations.job_id"), outcome.JobId));
        Assert.Equal(default, root.ParentSpanId);
        var trace = all.Where(s => s.TraceId == root.TraceId).ToList();
        var byId = trace.ToDictionary(s => s.SpanId);

        Assert.Single(trace, s => s.DisplayName == "read inputs");
        Assert.Single(trace, s => s.DisplayName == "assemble");
        // The questions' sends hang under the job's "publish" phase.
        var publish = Assert.Single(trace, s => s.DisplayName == "publish");
        Assert.Same(root, Ancestors(publish, byId).Single());
        var sends = trace.Where(s => s.Source.Name == ActivationsTelemetry.MassTransitName && s.Kind == ActivityKind.Producer && Ancestors(s, byId).FirstOrDefault() == publish).ToList();
        Assert.Equal(20, sends.Count);

        // Each forward pass hangs under the worker's consume of a question, which hangs under a publish of the job.
        var forwards = trace.Where(s => s.Source.Name == ActivationsTelemetry.Name && s.DisplayName == "forward").ToList();
        Assert.NotEmpty(forwards);
        Assert.Equal(20, forwards.Sum(f => (int)f.GetTagItem("activations.batch_size")!));
        foreach (var forward in forwards)
        {
            var chain = Ancestors(forward, byId);
            Assert.Contains(chain, a => a.Source.Name == ActivationsTelemetry.MassTransitName && a.Kind == ActivityKind.Consumer);
            Assert.Contains(chain, a => sends.Contains(a));
            Assert.Same(root, chain[^1]);
        }

        // The coordinator records results under its consume of the worker's publish.
        var recordings = trace.Where(s => s.DisplayName == "record results").ToList();
        Assert.NotEmpty(recordings);
        Assert.Equal(20, recordings.Sum(r => (int)r.GetTagItem("activations.inserted")!));
        foreach (var recording in recordings)
        {
            var chain = Ancestors(recording, byId);
            var consume = chain.First(a => a.Kind == ActivityKind.Consumer);
            Assert.Contains(Ancestors(consume, byId), a => a.Kind == ActivityKind.Producer && Ancestors(a, byId).Any(b => b.Kind == ActivityKind.Consumer));
            Assert.Same(root, chain[^1]);
        }
    }
}
