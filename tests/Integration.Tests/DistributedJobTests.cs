using System.Text.Json.Nodes;
using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.Coordinator.Assembly;
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
    public async Task Two_workers_share_a_job_of_mixed_hooks_and_every_file_equals_the_embedded_run()
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

        string[] job = ["run", "--scores", EngineReference.SampleData("faithfulness_scores.csv"), "--responses", EngineReference.SampleData("model_1.5B_responses.jsonl"),
            "--model", model, "--hooks", "hook_embed,blocks.3.attn.hook_z,blocks.5.hook_resid_mid,blocks.*.hook_attn_out", "--layers", "6,12",
            "--format", "pt,safetensors", "--pooling", "mean-no-bos", "--prepend-bos"];
        var output = Path.Combine(temp.Path, "out");
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator,
            [.. job, "--out", output, "--rabbitmq", servers.RabbitMq, "--postgres", servers.Postgres, "--batch-size", "4"],
            TimeSpan.FromMinutes(4));
        Assert.True(exitCode == 0, stdout + stderr);
        Assert.DoesNotContain("activations:activations@", stdout + stderr);
        Assert.False(File.Exists(Path.Combine(output, "activations.db")));
        var workers = await servers.QueryAsync<string>("SELECT DISTINCT worker FROM question_results ORDER BY worker");
        Assert.Equal(["worker-1", "worker-2"], workers);
        Assert.Equal([45L], await servers.QueryAsync<long>("SELECT count(*) FROM question_results"));
        Assert.Equal([45L * 33], await servers.QueryAsync<long>("SELECT count(*) FROM result_vectors"));

        // The same job embedded (one process, SQLite, in-memory bus): every file holds the same tensors.
        var embedded = Path.Combine(temp.Path, "embedded");
        var local = await CliProcess.RunAsync(CliProcess.Coordinator, [.. job, "--out", embedded], TimeSpan.FromMinutes(4));
        Assert.True(local.ExitCode == 0, local.Output + local.Error);
        var distributedManifest = ManifestFile.Read(Path.Combine(output, ManifestFile.FileName));
        var embeddedManifest = ManifestFile.Read(Path.Combine(embedded, ManifestFile.FileName));
        Assert.Equal(33, distributedManifest.Hooks.Count);
        Assert.Equal(embeddedManifest.Files, distributedManifest.Files);
        Assert.Equal(embeddedManifest.Hooks, distributedManifest.Hooks, (a, b) => a.Name == b.Name && a.Width == b.Width && a.Files.SequenceEqual(b.Files));
        Assert.Equal(embeddedManifest.PairIds.Faithful, distributedManifest.PairIds.Faithful);
        Assert.Equal(embeddedManifest.PairIds.Unfaithful, distributedManifest.PairIds.Unfaithful);
        Assert.Equal(["worker-1", "worker-2"], distributedManifest.Workers.Select(w => w.Name));
        Assert.All(distributedManifest.Workers, w => Assert.Equal(("cpu", "float32"), (w.Device, w.ComputeDtype)));
        Assert.Equal(45, distributedManifest.Workers.Sum(w => w.Questions));
        Assert.Equal(embeddedManifest.Files.Order(), Directory.GetFiles(embedded).Select(Path.GetFileName).Where(f => f!.EndsWith(".pt") || f.EndsWith(".safetensors")).Order());
        Assert.Equal(embeddedManifest.Files.Order(), Directory.GetFiles(output).Select(Path.GetFileName).Where(f => f!.EndsWith(".pt") || f.EndsWith(".safetensors")).Order());
        foreach (var file in embeddedManifest.Files)
        {
            var a = Read(Path.Combine(embedded, file));
            var b = Read(Path.Combine(output, file));
            foreach (var key in new[] { "faithful", "unfaithful" })
            {
                Assert.Equal(a[key].Shape, b[key].Shape);
                var worst = a[key].Values.Zip(b[key].Values, (x, y) => Math.Abs(x - y)).Max();
                Assert.True(worst <= 1e-5, $"{file} {key}: the distributed run differs from the embedded one by {worst:E2}");
            }
        }
        // And both equal the engine run here, one question at a time.
        EngineReference.AssertFilesMatchEngine(output, EngineReference.SampleData("model_1.5B_responses.jsonl"), model,
            [.. distributedManifest.Hooks.Select(h => HookPoint.Parse(h.Name))], Pooling.MeanNoBos, BosPolicy.Bos);

        // A job resolved for another device kind is refused by these CPU workers, naming why, rather than computed differently.
        var cuda = await CliProcess.RunAsync(CliProcess.Coordinator,
            [.. job, "--out", Path.Combine(temp.Path, "cuda"), "--rabbitmq", servers.RabbitMq, "--postgres", servers.Postgres, "--device", "cuda",
             "--max-faithful", "10", "--max-unfaithful", "10"],
            TimeSpan.FromMinutes(4));
        Assert.Equal(1, cuda.ExitCode);
        Assert.Contains("the job computes on cuda, this worker on cpu", cuda.Error);
        Assert.False(foreign.HasExited, foreign.Error);
    }

    /// <summary>A .pt file through TorchSharp's unpickler, a .safetensors file through the standard-library reader.</summary>
    static Dictionary<string, PythonReader.Tensor> Read(string path)
    {
        if (path.EndsWith(".safetensors"))
        {
            return PythonReader.Read(path, withTorch: false).Tensors.ToDictionary(t => t.Key, t => t.Value);
        }
        var (f, u) = ActivationFileWriter.ReadLayer(path);
        using (f)
        using (u)
        {
            return new()
            {
                ["faithful"] = new("pt", [.. f.shape.Select(d => (int)d)], f.data<float>().ToArray()),
                ["unfaithful"] = new("pt", [.. u.shape.Select(d => (int)d)], u.data<float>().ToArray()),
            };
        }
    }
}
