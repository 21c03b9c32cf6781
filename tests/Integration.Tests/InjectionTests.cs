using System.Diagnostics;
using System.Net.Http;
using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Tests;
using Activations.Worker.Loading;
using MassTransit;
using Xunit.Abstractions;

namespace Activations.Integration.Tests;

/// <summary>
/// No single bad message can hurt a job: malformed results injected on the results queue and bad questions injected
/// on the question queue, next to good ones, during a real distributed job.
/// </summary>
[Collection(ServersCollection.Name)]
public class InjectionTests(ITestOutputHelper log)
{
    static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(3);

    static FaultJob Job => Faults.StandardJob;

    static string Fingerprint => ModelFingerprint.Compute(ModelFolder.Open(Faults.Model));

    [Fact]
    public async Task Bad_results_are_rejected_alone_their_questions_asked_again_and_good_ones_in_the_same_batch_stored()
    {
        var expected = await Faults.EmbeddedRunAsync(Job);
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "out");
        // The coordinator alone: its questions wait in the queue while the forged results arrive.
        using var coordinator = CliProcess.Start(CliProcess.Coordinator, Job.Distributed(output, servers));
        Assert.True(await Faults.EventuallyAsync(async () => coordinator.HasExited || await Faults.ReadyMessagesAsync(servers, Faults.Queue) == Job.Questions, JobTimeout),
            coordinator.Output + coordinator.Error);
        var jobId = (await servers.QueryAsync<Guid>("SELECT id FROM jobs"))[0];
        var manifest = ManifestFile.Read(Path.Combine(expected, ManifestFile.FileName));

        // The embedded run's vectors for question i: exactly what a worker computes.
        async Task<QuestionActivationsCaptured> GoodAsync(int index)
        {
            var label = (await servers.QueryAsync<string>($"SELECT label FROM questions WHERE question_index = {index}"))[0];
            var row = (await servers.QueryAsync<int>($"SELECT row FROM questions WHERE question_index = {index}"))[0];
            var pairId = (await servers.QueryAsync<string>($"SELECT pair_id FROM questions WHERE question_index = {index}"))[0];
            var vectors = new List<HookVector>();
            foreach (var layer in FaultJob.Layers)
            {
                var (faithful, unfaithful) = ActivationFileWriter.ReadLayer(Path.Combine(expected, ActivationFileWriter.FileNameFor(layer)));
                using (faithful)
                using (unfaithful)
                {
                    var tensor = label == "faithful" ? faithful : unfaithful;
                    vectors.Add(HookVector.Pack(HookPoint.ResidPost(layer), tensor[row].to_type(TorchSharp.torch.ScalarType.Float32).data<float>().ToArray()));
                }
            }
            return new QuestionActivationsCaptured
            {
                JobId = jobId, QuestionIndex = index, PairId = pairId, ModelFingerprint = Fingerprint, Vectors = vectors,
                TokenCount = manifest.TokenCounts[pairId], Dtype = "float32", Device = "cpu", Worker = "forger",
            };
        }

        var good = new List<QuestionActivationsCaptured>();
        for (var i = 0; i < 10; i++)
        {
            good.Add(await GoodAsync(i));
        }
        var width = good[0].Vectors[0].Width;
        var bad = new[]
        {
            good[0] with { Vectors = [HookVector.Pack(good[0].Vectors[0].Hook, new float[width - 1]), .. good[0].Vectors.Skip(1)] },  // short vector
            good[1] with { Vectors = [.. good[1].Vectors.SkipLast(1), HookVector.Pack(good[1].Vectors[^1].Hook, new float[width * 2])] },  // wrong width
            good[2] with { Vectors = [HookVector.Pack(good[2].Vectors[0].Hook, [.. good[2].Vectors[0].Unpack().Select((v, i) => i == 5 ? float.NaN : v)]), .. good[2].Vectors.Skip(1)] },
            good[3] with { Dtype = "float32-but-wider" },  // 17 characters
            good[4] with { JobId = Guid.NewGuid() },  // another job's id
        };
        Assert.Equal(17, bad[3].Dtype.Length);
        var bus = await Faults.StartBusAsync(servers);
        try
        {
            // One reply (as a worker sends for a batch): five bad results next to five good ones.
            await bus.Publish(new QuestionsAnswered { JobId = jobId, Results = [bad[0], good[5], bad[1], good[6], bad[2], good[7], bad[3], good[8], bad[4], good[9]], Failures = [] });
        }
        finally
        {
            await bus.StopAsync();
        }

        // The good ones are stored; the bad ones are not, each is logged once with its worker, and the four of this
        // job are asked again (their questions are back in the queue).
        Assert.True(await Faults.EventuallyAsync(async () => await Faults.ResultCountAsync(servers) == 5
            && await Faults.ReadyMessagesAsync(servers, Faults.Queue) == Job.Questions + 4, TimeSpan.FromSeconds(60)), coordinator.Output + coordinator.Error);
        Assert.Equal([5, 6, 7, 8, 9], await servers.QueryAsync<int>("SELECT question_index FROM question_results ORDER BY 1"));
        var rejections = coordinator.Output.Split('\n').Where(l => l.Contains("Rejected the result")).ToList();
        log.WriteLine(string.Join("\n", rejections));
        Assert.Equal(5, rejections.Count);
        Assert.All(rejections, l => Assert.Contains("from worker forger", l));
        Assert.Contains(rejections, l => l.Contains("question 0 ") && l.Contains($"{(width - 1) * 4} bytes, expected {width * 4}"));
        Assert.Contains(rejections, l => l.Contains("question 1 ") && l.Contains($"{width * 8} bytes, expected {width * 4}"));
        Assert.Contains(rejections, l => l.Contains("question 2 ") && l.Contains("value 5 is NaN"));
        Assert.Contains(rejections, l => l.Contains("question 3 ") && l.Contains("dtype 'float32-but-wider' is not one of"));
        Assert.Contains(rejections, l => l.Contains("question 4 ") && l.Contains("does not exist"));
        Assert.Equal(0u, await Faults.ReadyMessagesAsync(servers, QueueNames.Results(jobId) + "_error"));

        // A worker finishes the job: the files equal the embedded run (the rejected questions were computed).
        using var worker = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "worker"));
        Assert.True(await Faults.ExitAsync(servers, coordinator, JobTimeout, worker) == 0, coordinator.Output + coordinator.Error);
        Assert.Equal([(long)Job.Questions], await servers.QueryAsync<long>("SELECT count(*) FROM question_results"));
        Assert.Equal(["worker"], await servers.QueryAsync<string>("SELECT worker FROM question_results WHERE question_index < 5 GROUP BY worker"));
        Faults.AssertSameFiles(expected, output, FaultJob.Faithful, FaultJob.Unfaithful);
    }

    [Fact]
    public async Task Bad_questions_are_answered_as_failures_alone_while_the_worker_stays_ready_and_never_reloads()
    {
        var expected = await Faults.EmbeddedRunAsync(Job);
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "out");
        var stats = Path.Combine(temp.Path, "stats.json");
        var port = 20000 + Random.Shared.Next(20000);
        // The questions first (no worker yet), then the bad messages behind them in the same queue.
        using var coordinator = CliProcess.Start(CliProcess.Coordinator, Job.Distributed(output, servers));
        Assert.True(await Faults.EventuallyAsync(async () => coordinator.HasExited || await Faults.ReadyMessagesAsync(servers, Faults.Queue) == Job.Questions, JobTimeout),
            coordinator.Output + coordinator.Error);
        var jobId = (await servers.QueryAsync<Guid>("SELECT id FROM jobs"))[0];
        var spec = System.Text.Json.JsonSerializer.Deserialize<CaptureSpec>((await servers.QueryAsync<string>("SELECT settings_json FROM jobs"))[0])!;
        var pairIds = await servers.QueryAsync<string>("SELECT pair_id FROM questions WHERE question_index < 3 ORDER BY question_index");
        CaptureQuestion Question(int index, string text) => new()
        {
            JobId = jobId, QuestionIndex = index, PairId = pairIds[index], Text = text, ModelFingerprint = Fingerprint, Spec = spec,
        };
        var bus = await Faults.StartBusAsync(servers);
        try
        {
            var queue = await bus.GetSendEndpoint(new Uri($"exchange:{Faults.Queue}"));
            await queue.SendBatch(new[]
            {
                Question(0, "Which is larger: 1 or 2?") with { Spec = spec with { Hooks = [HookPoint.ResidPost(1_000_000_000)] } },
                Question(1, ""),
                Question(2, "Which is larger: 1 or 2?") with { ModelFingerprint = "0123456789abcdef" },
            });
        }
        finally
        {
            await bus.StopAsync();
        }

        using var worker = CliProcess.Start(CliProcess.Worker, [.. Faults.Worker(servers, "worker", stats), "--health-port", port.ToString()]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var ready = false;
        var notReadyAfterReady = new List<string>();
        var clock = Stopwatch.StartNew();
        while (!coordinator.HasExited && clock.Elapsed < JobTimeout)
        {
            try
            {
                using var response = await http.GetAsync($"http://127.0.0.1:{port}/health/ready");
                if (response.IsSuccessStatusCode)
                {
                    ready = true;
                }
                else if (ready)
                {
                    notReadyAfterReady.Add($"{clock.Elapsed.TotalSeconds:F1} s: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet; or, on this shared machine, a probe that timed out: neither is a 503.
            }
            await Task.Delay(100);
        }
        Assert.True(await Faults.ExitAsync(servers, coordinator, TimeSpan.FromSeconds(30), worker) == 0, coordinator.Output + coordinator.Error);
        Assert.True(ready, worker.Output + worker.Error);
        Assert.Empty(notReadyAfterReady);

        // Each bad message refused with its reason, alone; the model loaded once and never reloaded; no batch failed.
        var output2 = worker.Output + worker.Error;
        log.WriteLine(string.Join("\n", output2.Split('\n').Where(l => l.Contains("refused"))));
        Assert.Contains("cannot run the job's capture spec", output2);
        Assert.Contains("1000000000", output2);
        Assert.Contains("the question's text is empty", output2);
        Assert.Contains("this worker holds model", output2);
        Assert.DoesNotContain("Reloading", output2);
        Assert.Single(output2.Split('\n'), l => l.Contains("Loaded "));
        Assert.DoesNotContain("failed on its last attempt", output2);
        Assert.True(await Faults.EventuallyAsync(() => Task.FromResult((long)Faults.Stats(stats)["messages"]! == Job.Questions + 3), TimeSpan.FromSeconds(30)));
        var counters = Faults.Stats(stats);
        log.WriteLine(counters.ToJsonString());
        Assert.Equal(3L, (long)counters["failed"]!);
        Assert.Equal((long)Job.Questions, (long)counters["questions"]!);
        Faults.AssertSameFiles(expected, output, FaultJob.Faithful, FaultJob.Unfaithful);
    }
}
