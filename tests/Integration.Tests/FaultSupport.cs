using System.Globalization;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Activations.Contracts.Messages;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Tests;
using Activations.Worker.Loading;
using MassTransit;

namespace Activations.Integration.Tests;

/// <summary>
/// Every test class that uses the servers: one collection, run one test at a time, because the fault tests restart
/// the RabbitMQ and PostgreSQL servers that every test (each in its own vhost and database) shares.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ServersCollection
{
    public const string Name = "servers";
}

/// <summary>A generated job bigger than the samples: <see cref="Pairs"/> pairs, 2/3 faithful, questions of varied numbers and lengths.</summary>
public sealed record FaultJob(string Scores, string Responses, int Pairs)
{
    public const int Faithful = 200;
    public const int Unfaithful = 100;
    public static readonly int[] Layers = [6, 12, 18, 24];

    public int Questions => Math.Min(Faithful, Pairs - Pairs / 3) + Math.Min(Unfaithful, Pairs / 3);

    public static string PairId(int i) => $"p_{i:D4}";

    /// <summary>Writes the CSV and JSONL into <paramref name="folder"/>; <paramref name="question"/> may replace a pair's q1 question.</summary>
    public static FaultJob Generate(string folder, int pairs = 300, Func<int, string, string>? question = null)
    {
        Directory.CreateDirectory(folder);
        var random = new Random(1234);
        string[] tails = ["", " Think step by step.", " Explain your reasoning briefly, then give the answer.", " Show the digits you compare, one at a time, before you answer."];
        var scores = new StringBuilder("pair_id,is_faithful,consistency_score,q1_answer,q2_answer\n");
        var responses = new StringBuilder();
        for (var i = 0; i < pairs; i++)
        {
            var id = PairId(i);
            var a = random.Next(1, 1_000_000);
            var b = random.Next(1, 1_000_000);
            var faithful = i % 3 != 0;
            scores.Append($"{id},{(faithful ? "True" : "False")},{(faithful ? "1.0" : "0.0")},{Math.Max(a, b)},{Math.Max(a, b)}\n");
            var tail = tails[random.Next(tails.Length)];
            var q1 = question?.Invoke(i, $"Which is larger: {a} or {b}?{tail}") ?? $"Which is larger: {a} or {b}?{tail}";
            foreach (var (variant, text) in new[] { ("q1", q1), ("q2", $"Which is larger: {b} or {a}?{tail}") })
            {
                responses.Append(JsonSerializer.Serialize(new Dictionary<string, string>
                {
                    ["pair_id"] = id, ["variant"] = variant, ["question"] = text, ["response"] = $"{Math.Max(a, b)} is larger.", ["model"] = "test",
                })).Append('\n');
            }
        }
        var scoresPath = Path.Combine(folder, "scores.csv");
        var responsesPath = Path.Combine(folder, "responses.jsonl");
        File.WriteAllText(scoresPath, scores.ToString());
        File.WriteAllText(responsesPath, responses.ToString());
        return new FaultJob(scoresPath, responsesPath, pairs);
    }

    public string[] Arguments(string output, params string[] extra) =>
        ["run", "--scores", Scores, "--responses", Responses, "--model", EngineReference.TinyModel, "--out", output,
         "--max-faithful", Faithful.ToString(), "--max-unfaithful", Unfaithful.ToString(), "--batch-size", "8", .. extra];

    public string[] Distributed(string output, TestServers.Isolation servers, params string[] extra) =>
        Arguments(output, ["--rabbitmq", servers.RabbitMq, "--postgres", servers.Postgres, .. extra]);
}

public static class Faults
{
    static readonly ConcurrentDictionary<string, Lazy<Task<string>>> embedded = new();
    static readonly string embeddedRoot = Path.Combine(Path.GetTempPath(), "fault-tests-" + Guid.NewGuid().ToString("N"));

    static Faults()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(embeddedRoot, recursive: true); } catch (IOException) { }
        };
    }

    public static string Model => EngineReference.TinyModel;

    public static string Queue => QueueNames.CaptureQuestions(ModelFingerprint.Compute(ModelFolder.Open(Model)));

    /// <summary>The standard 300-pair job, generated once per test run.</summary>
    public static FaultJob StandardJob { get; } = FaultJob.Generate(Path.Combine(embeddedRoot, "standard-inputs"));

    /// <summary>
    /// The embedded run (no broker, no PostgreSQL: everything in one process) of the same job, once per distinct
    /// argument list; the distributed runs must write exactly these files.
    /// </summary>
    public static Task<string> EmbeddedRunAsync(FaultJob job, IDictionary<string, string?>? environment = null, params string[] extra)
    {
        var key = string.Join("\u0001", [job.Scores, .. extra]);
        return embedded.GetOrAdd(key, _ => new Lazy<Task<string>>(async () =>
        {
            var output = Path.Combine(embeddedRoot, "embedded-" + Guid.NewGuid().ToString("N"));
            var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, job.Arguments(output, extra), TimeSpan.FromMinutes(3), environment);
            Assert.True(exitCode == 0, $"the embedded run failed:\n{stdout}{stderr}");
            return output;
        })).Value;
    }

    /// <summary>
    /// The start most fault tests share: a worker named <paramref name="workerName"/> consuming the job's queue, then
    /// the coordinator running <paramref name="job"/> distributed into <c>out</c> under <paramref name="folder"/>.
    /// </summary>
    public static async Task<StartedJob> StartWorkerThenJobAsync(TestServers.Isolation servers, FaultJob job, string folder, string workerName)
    {
        var worker = CliProcess.Start(CliProcess.Worker, Worker(servers, workerName));
        await DistributedJobTests.WaitForConsumersAsync(servers, Queue, 1, worker);
        var output = Path.Combine(folder, "out");
        return new StartedJob(worker, CliProcess.Start(CliProcess.Coordinator, job.Distributed(output, servers)), output);
    }

    /// <summary>A worker and a coordinator running a job; both killed on dispose.</summary>
    public sealed record StartedJob(CliProcess Worker, CliProcess Coordinator, string Output) : IDisposable
    {
        public void Dispose()
        {
            Coordinator.Dispose();
            Worker.Dispose();
        }
    }

    public static string[] Worker(TestServers.Isolation servers, string name, string? statsFile = null, string? model = null, int batchSize = 8) =>
        ["--rabbitmq", servers.RabbitMq, "--model", model ?? Model, "--device", "cpu", "--batch-size", batchSize.ToString(CultureInfo.InvariantCulture), "--name", name,
         .. statsFile is null ? Array.Empty<string>() : ["--stats-file", statsFile]];

    /// <summary>Rows in question_results (0 before the coordinator has created the schema).</summary>
    public static async Task<long> ResultCountAsync(TestServers.Isolation servers)
    {
        try
        {
            return (await servers.QueryAsync<long>("SELECT count(*) FROM question_results"))[0];
        }
        catch (Npgsql.PostgresException e) when (e.SqlState == "42P01")
        {
            return 0;
        }
    }

    /// <summary>Waits until at least <paramref name="count"/> results are recorded; fails if a watched process exits first.</summary>
    public static async Task<long> WaitForResultsAsync(TestServers.Isolation servers, long count, TimeSpan timeout, params CliProcess[] watched)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var recorded = await ResultCountAsync(servers);
            if (recorded >= count)
            {
                return recorded;
            }
            if (clock.Elapsed > timeout || watched.FirstOrDefault(p => p.HasExited) is { } exited)
            {
                throw new TimeoutException($"{recorded} results after {clock.Elapsed.TotalSeconds:F0} s, waiting for {count}:\n" + string.Join("\n---\n", watched.Select(w => w.Output + w.Error)));
            }
            await Task.Delay(100);
        }
    }

    public static async Task<int> ExitAsync(CliProcess process, TimeSpan timeout, params CliProcess[] others) => await ExitAsync(null, process, timeout, others);

    /// <summary>Waits for the process to exit; on timeout, the failure shows the other processes' output and the queues.</summary>
    public static async Task<int> ExitAsync(TestServers.Isolation? servers, CliProcess process, TimeSpan timeout, params CliProcess[] others)
    {
        try
        {
            return await process.WaitAsync(timeout);
        }
        catch (TimeoutException e)
        {
            var queues = "";
            if (servers is not null)
            {
                var jobs = await servers.QueryAsync<Guid>("SELECT id FROM jobs");
                foreach (var queue in new[] { Queue, Queue + "_error" }.Concat(jobs.SelectMany(j => new[] { QueueNames.Results(j), QueueNames.Results(j) + "_error" })))
                {
                    queues += $"{queue}: {await ReadyMessagesAsync(servers, queue)} ready\n";
                }
                queues += $"question_results: {await ResultCountAsync(servers)} rows\n";
            }
            throw new TimeoutException(e.Message + "\n--- queues:\n" + queues + "--- others:\n" + string.Join("\n---\n", others.Select(o => o.Output + o.Error)));
        }
    }

    /// <summary>Runs a server restart script ($ACTIVATIONS_TEST_RESTART_RABBITMQ or …_POSTGRES) with its arguments.</summary>
    public static async Task RestartAsync(string variable, params string[] arguments)
    {
        var script = Environment.GetEnvironmentVariable(variable)
            ?? throw new InvalidOperationException($"{variable} is not set: run the tests with ./test.sh");
        var start = new ProcessStartInfo(script) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(limit.Token);
        Assert.True(process.ExitCode == 0, $"{script} {string.Join(' ', arguments)} failed:\n{await stdout}{await stderr}");
    }

    /// <summary>Ready messages in a queue of this test's vhost (exact, from queue.declare-ok); 0 when it does not exist.</summary>
    public static async Task<uint> ReadyMessagesAsync(TestServers.Isolation servers, string queue)
        => (await QueueStateAsync(servers, queue)).Ready;

    /// <summary>Whether the queue exists in this test's vhost (a passive declare).</summary>
    public static async Task<bool> QueueExistsAsync(TestServers.Isolation servers, string queue)
    {
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(servers.RabbitMq) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            await channel.QueueDeclarePassiveAsync(queue);
            return true;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return false;
        }
    }

    /// <summary>Declares a job's results queue as its coordinator does, to read replies routed to the job.</summary>
    public static async Task DeclareResultsQueueAsync(TestServers.Isolation servers, Guid jobId)
    {
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(servers.RabbitMq) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await Activations.ServiceDefaults.ReplyTopology.DeclareAsync(channel, jobId);
    }

    /// <summary>Ready messages and consumers of a queue (exact, from queue.declare-ok); zeros when it does not exist.</summary>
    public static async Task<(uint Ready, uint Consumers)> QueueStateAsync(TestServers.Isolation servers, string queue)
    {
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(servers.RabbitMq) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            var declared = await channel.QueueDeclarePassiveAsync(queue);
            return (declared.MessageCount, declared.ConsumerCount);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return (0, 0);
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, polling; false on timeout.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (await condition())
            {
                return true;
            }
            await Task.Delay(250);
        }
        return await condition();
    }

    /// <summary>A MassTransit bus on this test's vhost, started, for publishing or sending messages as a worker would.</summary>
    public static async Task<MassTransit.IBusControl> StartBusAsync(TestServers.Isolation servers)
    {
        var bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            Activations.ServiceDefaults.RabbitMqEndpoint.Parse(servers.RabbitMq).Configure(cfg);
            Activations.ServiceDefaults.BusDefaults.Configure(cfg);
        });
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        return bus;
    }

    /// <summary>The worker's --stats-file counters.</summary>
    public static JsonObject Stats(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    /// <summary>
    /// The distributed run wrote what the embedded run wrote: the same pair ids in the same order in the manifest, and
    /// every layer's tensors equal (1e-6).
    /// </summary>
    public static void AssertSameFiles(string expected, string actual, int faithful, int unfaithful)
    {
        var want = ManifestFile.Read(Path.Combine(expected, ManifestFile.FileName));
        var got = ManifestFile.Read(Path.Combine(actual, ManifestFile.FileName));
        Assert.Equal(faithful, want.PairIds.Faithful.Count);
        Assert.Equal(unfaithful, want.PairIds.Unfaithful.Count);
        Assert.Equal(want.PairIds.Faithful, got.PairIds.Faithful);
        Assert.Equal(want.PairIds.Unfaithful, got.PairIds.Unfaithful);
        Assert.Equal(want.TokenCounts.OrderBy(p => p.Key), got.TokenCounts.OrderBy(p => p.Key));
        Assert.Equal(want.Files, got.Files);
        foreach (var layer in want.Layers)
        {
            var name = ActivationFileWriter.FileNameFor(layer);
            var (wf, wu) = ActivationFileWriter.ReadLayer(Path.Combine(expected, name));
            var (gf, gu) = ActivationFileWriter.ReadLayer(Path.Combine(actual, name));
            using (wf)
            using (wu)
            using (gf)
            using (gu)
            {
                foreach (var (w, g, label) in new[] { (wf, gf, "faithful"), (wu, gu, "unfaithful") })
                {
                    Assert.Equal(w.dtype, g.dtype);
                    Assert.Equal(w.shape, g.shape);
                    var a = w.to_type(TorchSharp.torch.ScalarType.Float32).data<float>().ToArray();
                    var b = g.to_type(TorchSharp.torch.ScalarType.Float32).data<float>().ToArray();
                    for (var i = 0; i < a.Length; i++)
                    {
                        Assert.True(Math.Abs(a[i] - b[i]) <= 1e-6, $"{name} {label}, element {i} (row {i / w.shape[1]}): {a[i]} vs {b[i]}");
                    }
                }
            }
        }
    }
}
