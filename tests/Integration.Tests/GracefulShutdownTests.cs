using System.Diagnostics;
using System.Text;
using Activations.Contracts.Messages;
using Activations.Coordinator.Tests;
using Activations.TestHooks;
using Xunit.Abstractions;

namespace Activations.Integration.Tests;

/// <summary>
/// SIGTERM (compose stop, a Kubernetes scale-down) must not throw away the batch a worker is computing, nor send any
/// question to run alone as a lost worker's.
/// </summary>
[Collection(ServersCollection.Name)]
public class GracefulShutdownTests(ITestOutputHelper log)
{
    static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(3);

    /// <summary>What a worker logs when it moves questions to the isolation queue.</summary>
    const string Isolating = "each runs alone on";

    [Fact]
    public async Task SIGTERM_in_the_middle_of_a_batch_finishes_and_answers_it_and_exits_0()
    {
        using var temp = new TempFolder();
        var job = FaultJob.Generate(Path.Combine(temp.Path, "inputs"), pairs: 30);
        var expected = await Faults.EmbeddedRunAsync(job);
        await using var servers = await TestServers.IsolateAsync();
        var stats = Path.Combine(temp.Path, "first.json");
        // A slow device: every batch takes 5 s more, so the batch in hand at SIGTERM is certainly still computing.
        using var first = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "first", stats), new Dictionary<string, string?>
        {
            ["DOTNET_STARTUP_HOOKS"] = Path.Combine(AppContext.BaseDirectory, "Activations.TestHooks.dll"),
            [SlowEngineHost.DelayVariable] = "5000",
        });
        await DistributedJobTests.WaitForConsumersAsync(servers, Faults.Queue, 1, first);
        var output = Path.Combine(temp.Path, "out");
        using var coordinator = CliProcess.Start(CliProcess.Coordinator, job.Distributed(output, servers));

        // SIGTERM the moment the first batch is answered: the next one has just started.
        var answeredAtStop = await AnsweredAsync(stats, first);
        var clock = Stopwatch.StartNew();
        using (var kill = Process.Start("kill", ["-TERM", first.Id.ToString()]))
        {
            await kill.WaitForExitAsync();
        }
        var exitCode = await first.WaitAsync(TimeSpan.FromSeconds(90));
        log.WriteLine($"the worker exited {exitCode} {clock.Elapsed.TotalSeconds:F1} s after SIGTERM");
        Assert.True(exitCode == 0, first.Output + first.Error);
        var answered = (long)Faults.Stats(stats)["messages"]!;
        Assert.True(answered < job.Questions, $"the worker answered every question ({answered}) before SIGTERM");
        Assert.True(answered > answeredAtStop, $"the batch in hand at SIGTERM was not answered ({answered} answered, {answeredAtStop} at SIGTERM)");

        // Every question it took was answered: its results are recorded, and none was moved to run alone.
        Assert.True(await Faults.EventuallyAsync(async () =>
            (await servers.QueryAsync<long>("SELECT count(*) FROM question_results WHERE worker = 'first'"))[0] == answered, TimeSpan.FromSeconds(30)),
            $"{answered} answered by the stopped worker, {(await servers.QueryAsync<long>("SELECT count(*) FROM question_results WHERE worker = 'first'"))[0]} recorded");
        using var second = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "second"));
        Assert.True(await Faults.ExitAsync(servers, coordinator, JobTimeout, second) == 0, coordinator.Output + coordinator.Error);
        Assert.DoesNotContain(Isolating, second.Output + second.Error);
        Assert.Equal(0u, await Faults.ReadyMessagesAsync(servers, QueueNames.IsolatedQuestions(Activations.Worker.Loading.ModelFingerprint.Compute(Activations.Worker.Loading.ModelFolder.Open(Faults.Model)))));
        Assert.Equal([(long)job.Questions], await servers.QueryAsync<long>("SELECT count(*) FROM question_results"));
        Faults.AssertSameFiles(expected, output, Math.Min(FaultJob.Faithful, job.Pairs - job.Pairs / 3), Math.Min(FaultJob.Unfaithful, job.Pairs / 3));
    }

    [Fact]
    public async Task Workers_stopped_again_and_again_during_a_job_send_no_question_to_run_alone()
    {
        using var temp = new TempFolder();
        var job = Faults.StandardJob;
        var expected = await Faults.EmbeddedRunAsync(job);
        await using var servers = await TestServers.IsolateAsync();
        var output = Path.Combine(temp.Path, "out");
        var outputs = new StringBuilder();
        // Batches of one: a batch is acknowledged every few milliseconds, so a stop lands next to an acknowledgement
        // whose refill is on its way; MassTransit returns the deliveries that reach a stopping worker, and the broker
        // counts each as held by a lost worker. Such a question must run in a batch again, not alone.
        CliProcess Start(int i, string stats) => CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, $"w{i}", stats, batchSize: 1));
        var worker = Start(0, Path.Combine(temp.Path, "w0.json"));
        await DistributedJobTests.WaitForConsumersAsync(servers, Faults.Queue, 1, worker);
        using var coordinator = CliProcess.Start(CliProcess.Coordinator, job.Distributed(output, servers));
        const int Stops = 6;
        for (var i = 0; i < Stops; i++)
        {
            var stats = Path.Combine(temp.Path, $"w{i}.json");
            await AnsweredAsync(stats, worker, atLeast: 10);
            using (var kill = Process.Start("kill", ["-TERM", worker.Id.ToString()]))
            {
                await kill.WaitForExitAsync();
            }
            var exitCode = await worker.WaitAsync(TimeSpan.FromSeconds(90));
            outputs.Append(worker.Output).Append(worker.Error);
            Assert.True(exitCode == 0, worker.Output + worker.Error);
            worker.Dispose();
            worker = Start(i + 1, Path.Combine(temp.Path, $"w{i + 1}.json"));
        }
        var jobExit = await Faults.ExitAsync(servers, coordinator, JobTimeout, worker);
        outputs.Append(worker.Output).Append(worker.Error);
        worker.Dispose();
        Assert.True(jobExit == 0, coordinator.Output + coordinator.Error);
        Assert.True((await servers.QueryAsync<long>("SELECT count(DISTINCT worker) FROM question_results"))[0] > Stops / 2, "the stops did not land in the middle of the job");
        Assert.DoesNotContain(Isolating, outputs.ToString());
        Assert.Equal(0u, await Faults.ReadyMessagesAsync(servers, QueueNames.IsolatedQuestions(Activations.Worker.Loading.ModelFingerprint.Compute(Activations.Worker.Loading.ModelFolder.Open(Faults.Model)))));
        Faults.AssertSameFiles(expected, output, FaultJob.Faithful, FaultJob.Unfaithful);
    }

    /// <summary>Waits until the worker's stats file says it answered at least <paramref name="atLeast"/> messages; returns how many.</summary>
    static async Task<long> AnsweredAsync(string stats, CliProcess worker, int atLeast = 1)
    {
        var deadline = Stopwatch.StartNew();
        while (!File.Exists(stats) || (long)Faults.Stats(stats)["messages"]! < atLeast)
        {
            Assert.False(worker.HasExited || deadline.Elapsed > JobTimeout, "the worker answered nothing\n" + worker.Output + worker.Error);
            await Task.Delay(20);
        }
        return (long)Faults.Stats(stats)["messages"]!;
    }
}
