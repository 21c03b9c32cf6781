using System.Diagnostics;
using System.Reflection;
using System.Text;
using Activations.Coordinator.Jobs;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Activations.Bench;

/// <summary>
/// The job pipeline without the GPU in the way: N questions on the smallest model, end to end, in embedded mode
/// (in-memory bus, SQLite, in-process worker) and distributed (RabbitMQ, PostgreSQL, one worker process), in one run.
/// </summary>
static class PipelineBenchmark
{
    public static async Task RunAsync(int questions, int batchSize, string layers)
    {
        var rabbitmq = Environment.GetEnvironmentVariable("ACTIVATIONS_TEST_RABBITMQ");
        var postgres = Environment.GetEnvironmentVariable("ACTIVATIONS_TEST_POSTGRES");
        if (rabbitmq is null || postgres is null)
        {
            throw new InvalidOperationException("start the servers first: tests/servers/start-servers.sh && . .ci-state/servers/env");
        }
        var folder = Directory.CreateTempSubdirectory("activations-pipeline-bench-").FullName;
        var (scores, responses) = WriteInputs(folder, questions);
        var model = Path.Combine(AppContext.BaseDirectory, "tiny-qwen2");
        Console.WriteLine($"Pipeline benchmark: {questions} questions, tiny Qwen2 model (28 layers, d_model 48), layers {layers}, batch {batchSize}, {Environment.ProcessorCount} cores");

        var (embedded, embeddedCapture) = await TimeAsync("embedded", new RunOptions
        {
            Scores = scores, Responses = responses, Model = model, Out = Path.Combine(folder, "embedded"),
            MaxFaithful = questions, MaxUnfaithful = questions, BatchSize = batchSize, Device = "cpu", Layers = layers,
        });

        var database = $"bench_{Guid.NewGuid():N}"[..24];
        await ExecuteAsync(postgres, $"CREATE DATABASE {database}");
        var connection = new NpgsqlConnectionStringBuilder(postgres) { Database = database }.ConnectionString;
        var worker = StartWorker(rabbitmq, model, batchSize);
        double distributed, distributedCapture;
        try
        {
            (distributed, distributedCapture) = await TimeAsync("distributed", new RunOptions
            {
                Scores = scores, Responses = responses, Model = model, Out = Path.Combine(folder, "distributed"),
                MaxFaithful = questions, MaxUnfaithful = questions, BatchSize = batchSize, Device = "cpu", Layers = layers,
                RabbitMq = rabbitmq, Postgres = connection,
            });
        }
        finally
        {
            worker.Kill(entireProcessTree: true);
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync(postgres, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
            Directory.Delete(folder, recursive: true);
        }
        Console.WriteLine();
        Console.WriteLine("| mode | questions/s end to end | vs embedded | questions/s publish to last result | vs embedded |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        Console.WriteLine($"| embedded (in-memory bus, SQLite, in-process worker) | {embedded:F0} | 1.00x | {embeddedCapture:F0} | 1.00x |");
        Console.WriteLine($"| distributed (RabbitMQ, PostgreSQL, 1 worker process) | {distributed:F0} | {distributed / embedded:F2}x | {distributedCapture:F0} | {distributedCapture / embeddedCapture:F2}x |");
    }

    /// <returns>questions per second end to end (inputs to files), and from the first publish to the last result</returns>
    static async Task<(double EndToEnd, double Capture)> TimeAsync(string name, RunOptions options)
    {
        var clock = Stopwatch.StartNew();
        var outcome = await CoordinatorHost.RunAsync(ValidatedRun.Validate(options), l => l.ClearProviders().AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning), CancellationToken.None);
        var seconds = clock.Elapsed.TotalSeconds;
        var rate = outcome.Published / seconds;
        var capture = outcome.Published / outcome.CaptureTime.TotalSeconds;
        Console.WriteLine($"  {name}: {outcome.Published} questions in {seconds:F1} s = {rate:F0} questions/s end to end (inputs, store, publish, compute, record, assemble); {capture:F0} questions/s from the first publish to the last result");
        return (rate, capture);
    }

    /// <summary>The worker's build output: the benchmark starts it as its own process (see the project file).</summary>
    static string WorkerDll => typeof(PipelineBenchmark).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "WorkerDll").Value!;

    static Process StartWorker(string rabbitmq, string model, int batchSize)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = false, UseShellExecute = false };
        foreach (var argument in new[] { WorkerDll, "--rabbitmq", rabbitmq, "--model", model, "--device", "cpu", "--batch-size", batchSize.ToString(), "--name", "bench-worker" })
        {
            start.ArgumentList.Add(argument);
        }
        return Process.Start(start)!;
    }

    static (string Scores, string Responses) WriteInputs(string folder, int count)
    {
        var random = new Random(11);
        var scores = new StringBuilder("pair_id,is_faithful\n");
        var responses = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            var id = $"num_{i:D5}";
            scores.Append($"{id},{(i % 3 == 0 ? "False" : "True")}\n");
            var a = random.Next(100, 1000);
            var b = random.Next(100, 1000);
            responses.Append($"{{\"pair_id\": \"{id}\", \"variant\": \"q1\", \"question\": \"Which is larger: {a} or {b}?\"}}\n");
        }
        var scoresPath = Path.Combine(folder, "scores.csv");
        var responsesPath = Path.Combine(folder, "responses.jsonl");
        File.WriteAllText(scoresPath, scores.ToString());
        File.WriteAllText(responsesPath, responses.ToString());
        return (scoresPath, responsesPath);
    }

    static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
