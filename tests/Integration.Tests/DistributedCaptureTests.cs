using System.Text.Json;
using Activations.Contracts.Messages;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Tests;
using Activations.Worker.Loading;

namespace Activations.Integration.Tests;

/// <summary>`capture` in distributed mode against the real RabbitMQ and PostgreSQL servers, with a worker as a separate process.</summary>
[Collection(ServersCollection.Name)]
public class DistributedCaptureTests
{
    [Fact]
    public async Task A_labelled_templated_prompt_file_captured_by_a_worker_equals_the_embedded_capture_and_resumes()
    {
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var model = EngineReference.TinyModel;
        var queue = QueueNames.CaptureQuestions(ModelFingerprint.Compute(ModelFolder.Open(model)));
        using var worker = CliProcess.Start(CliProcess.Worker, ["--rabbitmq", servers.RabbitMq, "--model", model, "--device", "cpu", "--batch-size", "4", "--name", "worker-1"]);
        await DistributedJobTests.WaitForConsumersAsync(servers, queue, 1, worker);

        var lines = File.ReadLines(EngineReference.SampleData("model_1.5B_responses.jsonl"))
            .Where(l => l.Trim().Length > 0).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("variant").GetString() == "q1").Take(16)
            .Select((e, i) => JsonSerializer.Serialize(new { id = e.GetProperty("pair_id").GetString(), question = e.GetProperty("question").GetString(), label = i % 3 == 0 ? "a" : "b" }));
        var prompts = temp.File("prompts.jsonl", string.Join('\n', lines));
        string[] job = ["capture", "--prompts", prompts, "--label-field", "label", "--model", model, "--layers", "12", "--hooks", "blocks.2.attn.hook_z",
            "--prompt-template", "<|im_start|>user\n{text}<|im_end|>\n"];
        var output = Path.Combine(temp.Path, "out");
        string[] distributed = [.. job, "--out", output, "--rabbitmq", servers.RabbitMq, "--postgres", servers.Postgres, "--batch-size", "4"];
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, distributed, TimeSpan.FromMinutes(4));
        Assert.True(exitCode == 0, stdout + stderr);
        Assert.False(File.Exists(Path.Combine(output, "activations.db")));
        Assert.Equal([16L], await servers.QueryAsync<long>("SELECT count(*) FROM question_results WHERE worker = 'worker-1'"));

        var embedded = Path.Combine(temp.Path, "embedded");
        var local = await CliProcess.RunAsync(CliProcess.Coordinator, [.. job, "--out", embedded], TimeSpan.FromMinutes(4));
        Assert.True(local.ExitCode == 0, local.Output + local.Error);
        var a = JsonSerializer.Deserialize<CaptureManifest>(File.ReadAllText(Path.Combine(output, ManifestFile.FileName)), ManifestFile.JsonOptions)!;
        var b = JsonSerializer.Deserialize<CaptureManifest>(File.ReadAllText(Path.Combine(embedded, ManifestFile.FileName)), ManifestFile.JsonOptions)!;
        Assert.Equal(b.Ids, a.Ids);
        Assert.Equal(b.Labels!, a.Labels!);
        Assert.Equal(["worker-1"], a.Workers.Select(w => w.Name));
        foreach (var file in b.Files)
        {
            var x = PythonReader.Read(Path.Combine(output, file));
            var y = PythonReader.Read(Path.Combine(embedded, file));
            Assert.Equal(["activations", "activations.a", "activations.b"], x.Tensors.Keys.Order(StringComparer.Ordinal));
            foreach (var key in y.Tensors.Keys)
            {
                Assert.Equal(y.Tensors[key].Shape, x.Tensors[key].Shape);
                var worst = x.Tensors[key].Values.Zip(y.Tensors[key].Values, (p, q) => Math.Abs(p - q)).Max();
                Assert.True(worst <= 1e-5, $"{file} {key}: the distributed capture differs from the embedded one by {worst:E2}");
            }
        }

        var again = await CliProcess.RunAsync(CliProcess.Coordinator, distributed, TimeSpan.FromMinutes(4));
        Assert.True(again.ExitCode == 0, again.Output + again.Error);
        Assert.Contains("(resumed; 0 questions computed in this run)", again.Output);
        Assert.False(worker.HasExited, worker.Error);
    }
}
