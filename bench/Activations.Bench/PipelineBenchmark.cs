using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Activations.Coordinator.Jobs;
using Activations.ServiceDefaults;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Activations.Bench;

/// <summary>
/// The job pipeline without the GPU in the way: N questions on the smallest model, end to end, in embedded mode
/// (in-memory bus, SQLite, in-process worker) and distributed (RabbitMQ, PostgreSQL, one worker process). Each case
/// runs in a child process of its own (a clean peak-memory reading for the coordinator) and reports where the time
/// went: the coordinator's phases one after the other (they add up to the end-to-end time), the busy time of each
/// part from its spans (coordinator and worker, see <see cref="SpanTotals"/>), and the CPU time of every process.
/// </summary>
static class PipelineBenchmark
{
    /// <param name="baseline">another build's Activations.Bench.dll: each case runs with it too, just before, and both appear side by side</param>
    public static void Run(int questions, int batchSize, IReadOnlyList<string> layerCases, IReadOnlyList<string> modes, string? baseline)
    {
        if (modes.Contains("distributed") && (Environment.GetEnvironmentVariable("ACTIVATIONS_TEST_RABBITMQ") is null || Environment.GetEnvironmentVariable("ACTIVATIONS_TEST_POSTGRES") is null))
        {
            throw new InvalidOperationException("start the servers first: tests/servers/start-servers.sh && . .ci-state/servers/env");
        }
        var folder = Directory.CreateTempSubdirectory("activations-pipeline-bench-").FullName;
        try
        {
            WriteInputs(folder, questions);
            Console.WriteLine($"Pipeline benchmark: {questions} questions, tiny Qwen2 model (28 layers, d_model 48), batch {batchSize}, {Environment.ProcessorCount} cores, load average at start {LoadAverage()}");
            var results = new List<CaseResult>();
            foreach (var layers in layerCases)
            {
                foreach (var mode in modes)
                {
                    string[] arguments = ["pipeline-case", mode, folder, questions.ToString(CultureInfo.InvariantCulture), batchSize.ToString(CultureInfo.InvariantCulture), layers];
                    if (baseline is not null)
                    {
                        results.Add(BenchChild.Run<CaseResult>(arguments, baseline).Single() with { Build = "baseline" });
                    }
                    results.Add(BenchChild.Run<CaseResult>(arguments, typeof(PipelineBenchmark).Assembly.Location).Single());
                }
            }
            Console.WriteLine($"Load average at the end: {LoadAverage()}");
            Print(results);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static string LoadAverage() => string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    /// <summary>The child: one case (mode, layers), printing one result line.</summary>
    public static async Task RunCaseAsync(string mode, string folder, int questions, int batchSize, string layers)
    {
        var distributed = mode == "distributed";
        var model = Path.Combine(AppContext.BaseDirectory, "tiny-qwen2");
        var options = new RunOptions
        {
            Scores = Path.Combine(folder, "scores.csv"), Responses = Path.Combine(folder, "responses.jsonl"), Model = model,
            Out = Path.Combine(folder, $"{mode}-{Guid.NewGuid():N}"), // a fresh job, never a resumed one
            MaxFaithful = questions, MaxUnfaithful = questions, BatchSize = batchSize, Device = "cpu",
            // A case names hooks (hook_embed, blocks.L.hook_…) or decoder layers (6,12,18,24).
            Hooks = layers.Contains("hook", StringComparison.Ordinal) ? layers : null,
            Layers = layers.Contains("hook", StringComparison.Ordinal) ? null : layers,
        };
        using var spans = new SpanTotals();
        Process? worker = null;
        string? database = null;
        var statsFile = Path.Combine(folder, $"worker-{Guid.NewGuid():N}.json");
        var postgres = Environment.GetEnvironmentVariable("ACTIVATIONS_TEST_POSTGRES");
        int? brokerPid = null, databasePid = null;
        Dictionary<string, double[]> phaseCpu;
        try
        {
            if (distributed)
            {
                var rabbitmq = Environment.GetEnvironmentVariable("ACTIVATIONS_TEST_RABBITMQ")!;
                database = $"bench_{Guid.NewGuid():N}"[..24];
                await ExecuteAsync(postgres!, $"CREATE DATABASE {database}");
                options = options with { RabbitMq = rabbitmq, Postgres = new NpgsqlConnectionStringBuilder(postgres) { Database = database }.ConnectionString };
                brokerPid = ProcessCpu.ListeningOn(RabbitMqEndpoint.Parse(rabbitmq).Port);
                databasePid = ProcessCpu.ListeningOn(new NpgsqlConnectionStringBuilder(postgres).Port);
                if (brokerPid is null || databasePid is null)
                {
                    throw new InvalidOperationException($"cannot find the RabbitMQ ({brokerPid}) or PostgreSQL ({databasePid}) process by its port");
                }
                worker = await StartWorkerAsync(rabbitmq, model, batchSize, statsFile);
            }
            GC.Collect();
            ProcessMemory.ResetPeak();
            int?[] processes = [Environment.ProcessId, worker?.Id, brokerPid, databasePid];
            var cpuBefore = ProcessCpu.TreeSeconds(processes);
            int[] gcBefore = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
            var pauseBefore = GC.GetTotalPauseDuration();
            var clock = Stopwatch.StartNew();
            JobOutcome outcome;
            using (var phases = new PhaseCpu(processes))
            {
                outcome = await CoordinatorHost.RunAsync(ValidatedRun.Validate(options), l => l.ClearProviders().AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning), CancellationToken.None);
                phaseCpu = phases.Totals();
            }
            var seconds = clock.Elapsed.TotalSeconds;
            // The coordinator's garbage collections during the job (embedded: the worker's too): a serial cost.
            Console.WriteLine($"  coordinator GC: {GC.CollectionCount(0) - gcBefore[0]} gen0, {GC.CollectionCount(1) - gcBefore[1]} gen1, {GC.CollectionCount(2) - gcBefore[2]} gen2; paused {(GC.GetTotalPauseDuration() - pauseBefore).TotalSeconds:F2} s");
            var cpuAfter = ProcessCpu.TreeSeconds(processes);
            var peak = ProcessMemory.PeakResidentBytes() / 1e6;
            var coordinatorSpans = spans.Snapshot().ToDictionary();
            var workerSpans = distributed ? ReadWorkerSpans(statsFile) : coordinatorSpans;
            var result = new CaseResult(mode, layers, outcome.Published, seconds, outcome.CaptureTime.TotalSeconds, peak,
                coordinatorSpans, workerSpans,
                cpuAfter[0] - cpuBefore[0], cpuAfter[1] - cpuBefore[1], cpuAfter[2] - cpuBefore[2], cpuAfter[3] - cpuBefore[3])
            {
                PhaseCpu = phaseCpu,
                GcPauseSeconds = (GC.GetTotalPauseDuration() - pauseBefore).TotalSeconds,
            };
            Console.WriteLine($"  {mode}, {layers}: {outcome.Published} questions in {seconds:F1} s = {outcome.Published / seconds:F0} questions/s end to end; {outcome.Published / outcome.CaptureTime.TotalSeconds:F0} from the first publish to the last result; coordinator peak {peak:F0} MB");
            BenchChild.Report(result);
        }
        finally
        {
            worker?.Kill(entireProcessTree: true);
            worker?.WaitForExit();
            if (database is not null)
            {
                NpgsqlConnection.ClearAllPools();
                await ExecuteAsync(postgres!, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
            }
        }
    }

    static Dictionary<string, SpanTotal> ReadWorkerSpans(string statsFile)
    {
        using var stats = JsonDocument.Parse(File.ReadAllText(statsFile));
        return stats.RootElement.GetProperty("spans").EnumerateObject()
            .ToDictionary(p => p.Name, p => new SpanTotal(p.Value.GetProperty("count").GetInt64(), p.Value.GetProperty("seconds").GetDouble()));
    }

    /// <summary>The worker's build output: the benchmark starts it as its own process (see the project file).</summary>
    static string WorkerDll => typeof(PipelineBenchmark).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "WorkerDll").Value!;

    /// <summary>Starts the worker process and returns once it is ready (model loaded, broker connected), so its start costs nothing here.</summary>
    static async Task<Process> StartWorkerAsync(string rabbitmq, string model, int batchSize, string statsFile)
    {
        int port;
        using (var probe = new TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        foreach (var argument in new[] { WorkerDll, "--rabbitmq", rabbitmq, "--model", model, "--device", "cpu", "--batch-size", batchSize.ToString(CultureInfo.InvariantCulture), "--name", "bench-worker", "--stats-file", statsFile, "--health-port", port.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }
        var worker = Process.Start(start)!;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromMinutes(3))
        {
            if (worker.HasExited)
            {
                throw new InvalidOperationException($"the worker exited with {worker.ExitCode}");
            }
            try
            {
                if ((await http.GetAsync($"http://127.0.0.1:{port}/health/ready")).IsSuccessStatusCode)
                {
                    return worker;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(200);
        }
        worker.Kill(entireProcessTree: true);
        throw new TimeoutException("the worker was not ready within 3 minutes");
    }

    static void WriteInputs(string folder, int count)
    {
        var random = new Random(11);
        var scores = new StringBuilder("pair_id,is_faithful\n");
        var responses = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            var id = $"num_{i:D6}";
            scores.Append($"{id},{(i % 3 == 0 ? "False" : "True")}\n");
            var a = random.Next(100, 1000);
            var b = random.Next(100, 1000);
            responses.Append($"{{\"pair_id\": \"{id}\", \"variant\": \"q1\", \"question\": \"Which is larger: {a} or {b}?\"}}\n");
        }
        File.WriteAllText(Path.Combine(folder, "scores.csv"), scores.ToString());
        File.WriteAllText(Path.Combine(folder, "responses.jsonl"), responses.ToString());
    }

    static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The coordinator's phases, in order: children of the job's span, one after the other.</summary>
    static readonly (string Span, string Label)[] Phases =
    [
        ("read inputs", "read and select the inputs"),
        ("check model", "resolve and check the model, fingerprint"),
        ("migrate store", "create or upgrade the store's schema"),
        ("store questions", "store the job and its questions"),
        ("start bus", "start the bus (and the embedded worker)"),
        ("publish", "serialise and publish every question"),
        ("wait for results", "wait for the last result after the last publish"),
        ("stop bus", "stop the bus"),
        ("assemble", "assemble, check and write the files"),
    ];

    static void Print(IReadOnlyList<CaseResult> results)
    {
        Console.WriteLine();
        Console.WriteLine("| hooks or layers | mode | questions/s end to end | questions/s first publish to last result | coordinator peak MB | CPU cores busy (all processes) |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            Console.WriteLine($"| {r.Layers} | {r.Label} | {r.Questions / r.Seconds:F0} | {r.Questions / r.CaptureSeconds:F0} | {r.PeakMb:F0} | {r.TotalCpu / r.Seconds:F2} |");
        }

        Console.WriteLine();
        Console.WriteLine("Per question, in microseconds (µs). Wall time: the coordinator's phases, one after the other; they add up to the end-to-end time.");
        Console.WriteLine("Busy time: the summed duration of each part's spans; parts run at the same time, so these overlap. CPU: each process's CPU time during the job.");
        Console.WriteLine();
        Console.WriteLine("| part | " + string.Join(" | ", results.Select(r => $"{r.Label}, {r.Layers}")) + " |");
        Console.WriteLine("|---|" + string.Concat(results.Select(_ => "---:|")));
        void Row(string label, Func<CaseResult, double?> seconds)
            => Console.WriteLine($"| {label} | " + string.Join(" | ", results.Select(r => seconds(r) is { } s ? (s * 1e6 / r.Questions).ToString("F1", CultureInfo.InvariantCulture) : "–")) + " |");
        Console.WriteLine("| **wall time** |" + string.Concat(results.Select(_ => " |")));
        foreach (var (span, label) in Phases)
        {
            Row(label, r => r.Coordinator.Seconds(span));
        }
        Row("other (logging, failures, status)", r => r.Seconds - Phases.Sum(p => r.Coordinator.Seconds(p.Span)));
        Row("= end to end", r => r.Seconds);
        Console.WriteLine("| **busy time by part** |" + string.Concat(results.Select(_ => " |")));
        Row("coordinator: serialise and publish questions", r => r.Coordinator.Seconds("publish"));
        Row("coordinator: record results (validate, insert)", r => r.Coordinator.Seconds("record results"));
        Row("coordinator: progress polls", r => r.Coordinator.Seconds("progress"));
        Row("coordinator: garbage collection pauses (embedded: the worker's too)", r => r.GcPauseSeconds);
        Row("worker: consume and reply, without the model", r => r.Worker.Seconds("capture batch") - r.Worker.Seconds("wait for engine") - r.Worker.Seconds("tokenize") - r.Worker.Seconds("forward"));
        Row("worker: of which publishing the replies", r => r.Worker.Seconds("reply"));
        Row("worker: tokenize", r => r.Worker.Seconds("tokenize"));
        Row("worker: forward pass (the model)", r => r.Worker.Seconds("forward"));
        Console.WriteLine("| **CPU time by process** |" + string.Concat(results.Select(_ => " |")));
        Row("coordinator process (embedded: everything)", r => r.CoordinatorCpu);
        Row("worker process", r => r.Mode == "distributed" ? r.WorkerCpu : null);
        Row("RabbitMQ", r => r.Mode == "distributed" ? r.BrokerCpu : null);
        Row("PostgreSQL", r => r.Mode == "distributed" ? r.DatabaseCpu : null);
        Row("= all processes", r => r.TotalCpu);
        foreach (var r in results)
        {
            PrintPhaseCpu(r);
        }
    }

    static void PrintPhaseCpu(CaseResult r)
    {
        if (r.PhaseCpu is null)
        {
            return;
        }
        Console.WriteLine();
        Console.WriteLine($"{r.Label}, {r.Layers}: per question, µs, each phase's wall time and the CPU time each process spent during it");
        Console.WriteLine();
        Console.WriteLine("| phase | wall | coordinator CPU | worker CPU | RabbitMQ CPU | PostgreSQL CPU | all CPU |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        string Us(double seconds) => (seconds * 1e6 / r.Questions).ToString("F1", CultureInfo.InvariantCulture);
        var sum = new double[4];
        foreach (var (span, label) in Phases)
        {
            var cpu = r.PhaseCpu.GetValueOrDefault(span) ?? new double[4];
            for (var i = 0; i < 4; i++)
            {
                sum[i] += cpu[i];
            }
            Console.WriteLine($"| {label} | {Us(r.Coordinator.Seconds(span))} | {Us(cpu[0])} | {Us(cpu[1])} | {Us(cpu[2])} | {Us(cpu[3])} | {Us(cpu.Sum())} |");
        }
        double[] whole = [r.CoordinatorCpu, r.WorkerCpu, r.BrokerCpu, r.DatabaseCpu];
        Console.WriteLine($"| other | {Us(r.Seconds - Phases.Sum(p => r.Coordinator.Seconds(p.Span)))} | {Us(whole[0] - sum[0])} | {Us(whole[1] - sum[1])} | {Us(whole[2] - sum[2])} | {Us(whole[3] - sum[3])} | {Us(whole.Sum() - sum.Sum())} |");
        Console.WriteLine($"| = the whole job | {Us(r.Seconds)} | {Us(whole[0])} | {Us(whole[1])} | {Us(whole[2])} | {Us(whole[3])} | {Us(whole.Sum())} |");
    }

    static double Seconds(this Dictionary<string, SpanTotal> spans, string name) => spans.TryGetValue(name, out var total) ? total.Seconds : 0;
}

/// <summary>One case's measurements (seconds), passed from the child process to the parent as JSON.</summary>
sealed record CaseResult(
    string Mode, string Layers, int Questions, double Seconds, double CaptureSeconds, double PeakMb,
    Dictionary<string, SpanTotal> Coordinator, Dictionary<string, SpanTotal> Worker,
    double CoordinatorCpu, double WorkerCpu, double BrokerCpu, double DatabaseCpu)
{
    public double TotalCpu => CoordinatorCpu + WorkerCpu + BrokerCpu + DatabaseCpu;

    /// <summary>Phase span name → CPU seconds of the coordinator, worker, broker and database processes during it.</summary>
    public Dictionary<string, double[]>? PhaseCpu { get; init; }

    /// <summary>The coordinator process's garbage-collection pauses during the job (every thread stopped).</summary>
    public double? GcPauseSeconds { get; init; }

    /// <summary>Set by the parent: "baseline" for a case run with the --baseline build.</summary>
    public string? Build { get; init; }

    public string Label => Build is null ? Mode : $"{Mode} ({Build})";
}

/// <summary>
/// The CPU time of each process during each of the coordinator's phases (the direct children of its "job" span,
/// which run one after the other): sampled from /proc as each phase starts and ends.
/// </summary>
sealed class PhaseCpu : IDisposable
{
    readonly IReadOnlyList<int?> processes;
    readonly ActivityListener listener;
    readonly Dictionary<string, double[]> totals = [];
    readonly Lock gate = new();
    double[]? atStart;

    public PhaseCpu(IReadOnlyList<int?> processes)
    {
        this.processes = processes;
        listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ActivationsTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStarted = activity =>
            {
                if (activity.Parent?.OperationName == "job")
                {
                    var now = ProcessCpu.TreeSeconds(processes);
                    lock (gate)
                    {
                        atStart = now;
                    }
                }
            },
            ActivityStopped = activity =>
            {
                if (activity.Parent?.OperationName == "job")
                {
                    var now = ProcessCpu.TreeSeconds(processes);
                    lock (gate)
                    {
                        var total = totals.TryGetValue(activity.OperationName, out var t) ? t : totals[activity.OperationName] = new double[processes.Count];
                        for (var i = 0; i < now.Length; i++)
                        {
                            total[i] += now[i] - atStart![i];
                        }
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
    }

    public Dictionary<string, double[]> Totals()
    {
        lock (gate)
        {
            return totals.ToDictionary(p => p.Key, p => p.Value.ToArray());
        }
    }

    public void Dispose() => listener.Dispose();
}
