using System.Reflection;
using Activations.Coordinator.Jobs;
using Activations.Coordinator.Store;
using Activations.ServiceDefaults;
using Activations.Worker.Loading.Hub;

namespace Activations.Coordinator.Tests;

/// <summary>A record that holds a token, a password or a connection string never prints it through ToString.</summary>
public class SecretPrintingTests
{
    static IEnumerable<Type> Records() =>
        new[] { typeof(JobRunner), typeof(HubOptions), typeof(RabbitMqEndpoint), typeof(Contracts.CaptureSpec), typeof(GpuWorker.GpuWorkerSettings) }
            .Select(t => t.Assembly)
            .SelectMany(a => a.GetTypes())
            .Where(t => t.GetMethod("<Clone>$") is not null);

    [Fact]
    public void Every_record_with_a_secret_member_overrides_ToString()
    {
        var holders = Records()
            .Where(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance).Any(p => Redacted.IsSecret(p.Name) || Redacted.IsConnectionString(p.Name)))
            .ToList();
        // The check has something to check: these hold a token, a password or a connection string.
        Assert.Contains(typeof(HubOptions), holders);
        Assert.Contains(typeof(RunOptions), holders);
        Assert.Contains(typeof(ValidatedRun), holders);
        Assert.Contains(typeof(CaptureOptions), holders);
        Assert.Contains(typeof(ValidatedCapture), holders);
        Assert.Contains(typeof(StoreConnection), holders);
        Assert.Contains(typeof(RabbitMqEndpoint), holders);
        // The check can fail: a record without an override is seen as compiler-printed.
        Assert.NotNull(typeof(JobProgress).GetMethod("ToString", Type.EmptyTypes)!.GetCustomAttribute<System.Runtime.CompilerServices.CompilerGeneratedAttribute>());
        var compilerPrinted = holders.Where(t => t.GetMethod("ToString", Type.EmptyTypes)!.GetCustomAttribute<System.Runtime.CompilerServices.CompilerGeneratedAttribute>() is not null).ToList();
        Assert.True(compilerPrinted.Count == 0, "records that print their secrets: " + string.Join(", ", compilerPrinted));
    }

    [Fact]
    public void The_records_print_without_their_secrets()
    {
        const string password = "Sup3rSecretPw";
        const string token = "hf_TopSecretToken";
        var postgres = $"Host=db;Username=app;PSW={password};Database=activations";
        var rabbit = $"amqp://coordinator:{password}@rabbitmq:5672/";
        var options = new RunOptions { Scores = "s.csv", Responses = "r.jsonl", Model = "m", Out = "out", RabbitMq = rabbit, Postgres = postgres };
        var run = ValidatedRun.Validate(options);
        var captureOptions = new CaptureOptions { Prompts = "p.jsonl", Model = "m", Out = "out", RabbitMq = rabbit, Postgres = postgres };
        var printed = new object[]
        {
            options, run, run.Broker!, StoreConnection.Postgres(postgres),
            new HubOptions { CacheRoot = "/cache", Token = token },
            captureOptions, ValidatedCapture.Validate(captureOptions),
        }.Select(o => o.ToString()!).ToList();
        foreach (var text in printed)
        {
            Assert.DoesNotContain(password, text);
            Assert.DoesNotContain(token, text);
        }
        // Still useful: what is not secret is there.
        Assert.Contains("s.csv", printed[0]);
        Assert.Contains("rabbitmq", printed[0]);
        Assert.Contains("Host=db", printed[1], StringComparison.OrdinalIgnoreCase);
        Assert.Contains("/cache", printed[4]);
        Assert.Contains("p.jsonl", printed[5]);
        Assert.Contains("p.jsonl", printed[6]);
    }
}
