using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Store;
using Activations.Worker.Capture;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using static TorchSharp.torch;

namespace Activations.Bench;

/// <summary>
/// Assembly's memory: a PostgreSQL job of N questions (half faithful) × H hooks × W float32 is filled through the
/// store's own recording path, then assembled in a child process of its own (a clean peak-RSS reading) the way
/// `run` assembles it: streamed, one hook at a time. With --old, the same job is also assembled the previous way
/// (every vector materialised, every hook stacked before any write; reproduced here, since the code is gone) side by
/// side. Reports peak resident memory over the largest single hook's bytes (the target: at most 1.5).
/// </summary>
static class AssemblyBenchmark
{
    sealed record CaseResult(string How, int Questions, double Seconds, double ResidentBeforeMb, double PeakResidentMb, double PeakManagedMb, double HookMb);

    public static async Task RunAsync(IReadOnlyList<int> sizes, int hooks, int width, bool old)
    {
        var postgres = Environment.GetEnvironmentVariable("ACTIVATIONS_TEST_POSTGRES")
            ?? throw new InvalidOperationException("start the servers first: tests/servers/start-servers.sh && . .ci-state/servers/env");
        Console.WriteLine($"Assembly benchmark: {string.Join(", ", sizes)} questions × {hooks} hooks × {width} float32, PostgreSQL; "
            + $"processor: {CpuFeatures.Current.Processor}, {Environment.ProcessorCount} cores, load average at start {LoadAverage()}");
        var results = new List<CaseResult>();
        foreach (var questions in sizes)
        {
            var database = $"bench_{Guid.NewGuid():N}"[..24];
            await ExecuteAsync(postgres, $"CREATE DATABASE {database}");
            try
            {
                var connection = new NpgsqlConnectionStringBuilder(postgres) { Database = database }.ConnectionString;
                var clock = Stopwatch.StartNew();
                var jobId = await FillAsync(connection, questions, hooks, width);
                Console.WriteLine($"Filled {questions} questions × {hooks} hooks ({(double)questions * hooks * width * 4 / 1e9:F2} GB of vectors) in {clock.Elapsed.TotalSeconds:F0} s");
                foreach (var how in old ? new[] { "old", "streaming" } : ["streaming"])
                {
                    results.Add(BenchChild.Run<CaseResult>(["assembly-case", how, connection, jobId.ToString(), questions.ToString(CultureInfo.InvariantCulture)], typeof(AssemblyBenchmark).Assembly.Location).Single());
                }
            }
            finally
            {
                NpgsqlConnection.ClearAllPools();
                await ExecuteAsync(postgres, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
            }
        }
        Console.WriteLine($"Load average at the end: {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| assembly | questions | largest hook | peak RSS | RSS before | peak RSS / hook | (peak − before) / hook | peak managed | seconds |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            Console.WriteLine($"| {r.How} | {r.Questions:N0} | {r.HookMb:F0} MB | {r.PeakResidentMb:F0} MB | {r.ResidentBeforeMb:F0} MB | "
                + $"**{r.PeakResidentMb / r.HookMb:F2}** | {(r.PeakResidentMb - r.ResidentBeforeMb) / r.HookMb:F2} | {r.PeakManagedMb:F0} MB | {r.Seconds:F1} |");
        }
    }

    static string LoadAverage() => string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    static HookPoint[] Hooks(int count) => [.. Enumerable.Range(1, count).Select(i => HookPoint.ResidPost(i * 6))];

    /// <summary>A running job with its questions, and every result recorded through <see cref="JobStore.RecordCheckedResultsAsync"/> (validated, bulk-inserted).</summary>
    static async Task<Guid> FillAsync(string connectionString, int questions, int hookCount, int width)
    {
        var store = new JobStore(StoreConnection.Postgres(connectionString), NullLogger<JobStore>.Instance);
        await store.MigrateAsync(CancellationToken.None);
        var hooks = Hooks(hookCount);
        var job = new JobRecord
        {
            Id = Guid.NewGuid(), Key = Guid.NewGuid().ToString("N"), SettingsJson = "{}", ModelFingerprint = "bench", OutputDirectory = "/tmp/bench",
            QuestionCount = questions, Status = JobStatus.Running, CreatedAt = DateTime.UtcNow,
        };
        var faithful = (questions + 1) / 2;
        var records = Enumerable.Range(0, questions).Select(i => new QuestionRecord
        {
            JobId = job.Id, QuestionIndex = i, PairId = $"p{i:D6}", Label = i < faithful ? "faithful" : "unfaithful", Row = i < faithful ? i : i - faithful, Text = $"q{i}",
        }).ToList();
        await store.FindOrCreateJobAsync(job, [.. hooks.Select(h => new JobHookRecord { Hook = h.Name, Width = width })], records, CancellationToken.None);
        const int batch = 128;
        for (var start = 0; start < questions; start += batch)
        {
            var results = Enumerable.Range(start, Math.Min(batch, questions - start)).Select(i => new QuestionActivationsCaptured
            {
                JobId = job.Id, QuestionIndex = i, PairId = $"p{i:D6}", ModelFingerprint = "bench", TokenCount = 10, Dtype = "float32", Device = "cpu", Worker = "bench",
                Vectors = [.. hooks.Select((h, k) => HookVector.Pack(h, Vector(i, k, width)))],
            }).ToList();
            var recorded = await store.RecordCheckedResultsAsync(results, CancellationToken.None);
            if (recorded.Inserted != results.Count)
            {
                throw new InvalidOperationException($"recorded {recorded.Inserted} of {results.Count}: {string.Join("; ", recorded.Rejected.Select(r => r.Reason))}");
            }
        }
        return job.Id;
    }

    static float[] Vector(int question, int hook, int width) => [.. Enumerable.Range(0, width).Select(c => question * 0.001f + hook + c / 1024f)];

    /// <summary>The child: assembles the job once (streaming, or the old way) into a temporary folder, printing one result line.</summary>
    public static async Task RunCaseAsync(string how, string connectionString, Guid jobId, int questions)
    {
        var output = Directory.CreateTempSubdirectory("activations-assembly-bench-").FullName;
        try
        {
            var connection = StoreConnection.Postgres(connectionString);
            var store = new JobStore(connection, NullLogger<JobStore>.Instance);
            using (zeros(1)) { } // libtorch loaded before the first reading
            GC.Collect();
            var before = ProcessMemory.ResidentBytes();
            ProcessMemory.ResetPeak();
            using var managed = new ManagedPeak();
            var clock = Stopwatch.StartNew();

            var questionRecords = await store.QuestionsAsync(jobId, CancellationToken.None);
            var requested = (await store.JobHooksAsync(jobId, CancellationToken.None)).Select(h => new RequestedHook(HookPoint.Parse(h.Hook), h.Width)).OrderBy(r => r.Hook).ToList();
            var faithful = questionRecords.Where(q => q.Label == "faithful").OrderBy(q => q.Row).Select(q => q.PairId).ToList();
            var unfaithful = questionRecords.Where(q => q.Label == "unfaithful").OrderBy(q => q.Row).Select(q => q.PairId).ToList();
            var assembler = new ActivationAssembler(new ActivationFileWriter(), NullLogger<ActivationAssembler>.Instance);
            if (how == "streaming")
            {
                var source = new StoredVectorSource(store, jobId, questionRecords.ToDictionary(q => q.QuestionIndex, q => q.PairId));
                await assembler.AssembleAndWriteAsync(new AssemblyRequest(requested, faithful, unfaithful, source, ActivationDtype.Float32), output);
            }
            else
            {
                await AssembleTheOldWayAsync(connection, jobId, questionRecords, requested, faithful, unfaithful, output);
            }

            var seconds = clock.Elapsed.TotalSeconds;
            var peak = ProcessMemory.PeakResidentBytes();
            var hookBytes = (double)questions * requested.Max(r => r.Width) * sizeof(float);
            BenchChild.Report(new CaseResult(how, questions, seconds, before / 1e6, peak / 1e6, managed.Peak / 1e6, hookBytes / 1e6));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    /// <summary>
    /// Assembly as it was before it streamed (commit 1954506), for the side-by-side figure: every vector of the job
    /// read into a list, unpacked into a table, every hook stacked (float32 array → tensor) and held, then written.
    /// </summary>
    static async Task AssembleTheOldWayAsync(StoreConnection connection, Guid jobId, List<QuestionRecord> questions, List<RequestedHook> requested,
        List<string> faithful, List<string> unfaithful, string output)
    {
        var pairOf = questions.ToDictionary(q => q.QuestionIndex, q => q.PairId);
        var table = new Dictionary<(string, string), float[]>();
        await using var db = connection.CreateContext();
        foreach (var vector in await db.Vectors.AsNoTracking().Where(v => v.JobId == jobId).ToListAsync())
        {
            table.Add((pairOf[vector.QuestionIndex], vector.Hook), MemoryMarshal.Cast<byte, float>(vector.Values).ToArray());
        }
        var built = new List<(HookPoint Hook, Tensor Faithful, Tensor Unfaithful)>();
        foreach (var hook in requested)
        {
            built.Add((hook.Hook, Stack(table, faithful, hook), Stack(table, unfaithful, hook)));
        }
        var writer = new ActivationFileWriter();
        foreach (var (hook, f, u) in built)
        {
            writer.WriteHook(output, hook, f, u);
        }
        built.ForEach(b => { b.Faithful.Dispose(); b.Unfaithful.Dispose(); });
    }

    static Tensor Stack(Dictionary<(string, string), float[]> table, List<string> ids, RequestedHook hook)
    {
        var data = new float[ids.Count * hook.Width];
        for (var row = 0; row < ids.Count; row++)
        {
            table[(ids[row], hook.Hook.Name)].CopyTo(data, row * hook.Width);
        }
        using var float32 = tensor(data, [ids.Count, hook.Width], ScalarType.Float32);
        return float32.to_type(ScalarType.Float32, copy: true);
    }

    /// <summary>The managed heap's largest size, sampled every 5 ms (the GC keeps no peak of its own).</summary>
    sealed class ManagedPeak : IDisposable
    {
        readonly CancellationTokenSource stop = new();
        readonly Thread thread;
        long peak;

        public ManagedPeak()
        {
            thread = new Thread(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    peak = Math.Max(peak, GC.GetTotalMemory(false));
                    Thread.Sleep(5);
                }
            }) { IsBackground = true };
            thread.Start();
        }

        public long Peak => Math.Max(peak, GC.GetTotalMemory(false));

        public void Dispose()
        {
            stop.Cancel();
            thread.Join();
        }
    }
}
