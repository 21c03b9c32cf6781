using System.Text.Json.Nodes;
using Activations.Contracts.Messages;
using Activations.Coordinator.Tests;
using Activations.Worker.Loading;

namespace Activations.Integration.Tests;

/// <summary>Distributed mode against the real RabbitMQ and PostgreSQL servers, with workers as separate processes.</summary>
[Collection(ServersCollection.Name)]
public class DistributedJobTests
{
    static string[] Worker(string rabbitmq, string model, string name) =>
        ["--rabbitmq", rabbitmq, "--model", model, "--device", "cpu", "--batch-size", "4", "--name", name];

    internal static async Task WaitForConsumersAsync(TestServers.Isolation servers, string queue, int count, params CliProcess[] workers)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (await servers.ConsumersAsync(queue) < count)
        {
            if (DateTime.UtcNow > deadline || workers.Any(w => w.HasExited))
            {
                throw new TimeoutException($"{count} consumers on {queue} never appeared:\n" + string.Join("\n---\n", workers.Select(w => w.Output + w.Error)));
            }
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task Two_workers_share_a_job_and_the_files_equal_the_engine_run_in_process()
    {
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var model = EngineReference.TinyModel;
        var queue = QueueNames.CaptureQuestions(ModelFingerprint.Compute(ModelFolder.Open(model)));

        // A worker holding another model (a copy with a changed config) must never answer for this job.
        var foreignModel = Directory.CreateDirectory(Path.Combine(temp.Path, "foreign")).FullName;
        foreach (var file in Directory.GetFiles(model))
        {
            File.Copy(file, Path.Combine(foreignModel, Path.GetFileName(file)));
        }
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(foreignModel, "config.json")))!;
        config["rope_theta"] = 1000000;
        File.WriteAllText(Path.Combine(foreignModel, "config.json"), config.ToJsonString());

        using var worker1 = CliProcess.Start(CliProcess.Worker, Worker(servers.RabbitMq, model, "worker-1"));
        using var worker2 = CliProcess.Start(CliProcess.Worker, Worker(servers.RabbitMq, model, "worker-2"));
        using var foreign = CliProcess.Start(CliProcess.Worker, Worker(servers.RabbitMq, foreignModel, "foreign"));
        await WaitForConsumersAsync(servers, queue, 2, worker1, worker2);

        var output = Path.Combine(temp.Path, "out");
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator,
            ["run", "--scores", EngineReference.SampleData("faithfulness_scores.csv"), "--responses", EngineReference.SampleData("model_1.5B_responses.jsonl"),
             "--model", model, "--out", output, "--rabbitmq", servers.RabbitMq, "--postgres", servers.Postgres, "--batch-size", "4"],
            TimeSpan.FromMinutes(4));
        Assert.True(exitCode == 0, stdout + stderr);
        Assert.DoesNotContain("activations:activations@", stdout + stderr);

        EngineReference.AssertFilesMatchEngine(output, EngineReference.SampleData("model_1.5B_responses.jsonl"), model, [6, 12, 18, 24]);
        Assert.False(File.Exists(Path.Combine(output, "activations.db")));
        var workers = await servers.QueryAsync<string>("SELECT DISTINCT worker FROM question_results ORDER BY worker");
        Assert.Equal(["worker-1", "worker-2"], workers);
        Assert.Equal([45L], await servers.QueryAsync<long>("SELECT count(*) FROM question_results"));
        Assert.False(foreign.HasExited, foreign.Error);
    }
}
