using System.Diagnostics;
using Activations.Contracts.Messages;
using Activations.Coordinator.Tests;
using Xunit.Abstractions;

namespace Activations.Integration.Tests;

/// <summary>SIGTERM (compose stop, a Kubernetes scale-down) must not throw away the batch a worker is computing.</summary>
[Collection(ServersCollection.Name)]
public class GracefulShutdownTests(ITestOutputHelper log)
{
    static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task SIGTERM_in_the_middle_of_a_batch_finishes_and_answers_it_and_exits_0()
    {
        using var temp = new TempFolder();
        // Long questions (about 700 tokens), so each batch of 8 takes a while on the CPU and SIGTERM lands inside one.
        var tail = string.Concat(Enumerable.Repeat(" Compare the digits one at a time and explain each step.", 60));
        var job = FaultJob.Generate(Path.Combine(temp.Path, "inputs"), pairs: 30, question: (_, text) => text + tail);
        var expected = await Faults.EmbeddedRunAsync(job);
        await using var servers = await TestServers.IsolateAsync();
        var stats = Path.Combine(temp.Path, "first.json");
        using var first = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "first", stats));
        await DistributedJobTests.WaitForConsumersAsync(servers, Faults.Queue, 1, first);
        var output = Path.Combine(temp.Path, "out");
        using var coordinator = CliProcess.Start(CliProcess.Coordinator, job.Distributed(output, servers));

        // SIGTERM once the first batch is answered, while the next ones compute.
        await Faults.WaitForResultsAsync(servers, 1, JobTimeout, coordinator, first);
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

        // Every question it took was answered: its results are recorded, and none went back to the queue as the
        // question of a lost worker (which the next worker would move to isolation).
        Assert.True(await Faults.EventuallyAsync(async () =>
            (await servers.QueryAsync<long>("SELECT count(*) FROM question_results WHERE worker = 'first'"))[0] == answered, TimeSpan.FromSeconds(30)),
            $"{answered} answered by the stopped worker, {(await servers.QueryAsync<long>("SELECT count(*) FROM question_results WHERE worker = 'first'"))[0]} recorded");
        using var second = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "second"));
        Assert.True(await Faults.ExitAsync(servers, coordinator, JobTimeout, second) == 0, coordinator.Output + coordinator.Error);
        Assert.DoesNotContain("held by a worker that was lost", second.Output + second.Error);
        Assert.Equal(0u, await Faults.ReadyMessagesAsync(servers, QueueNames.IsolatedQuestions(Activations.Worker.Loading.ModelFingerprint.Compute(Activations.Worker.Loading.ModelFolder.Open(Faults.Model)))));
        Assert.Equal([(long)job.Questions], await servers.QueryAsync<long>("SELECT count(*) FROM question_results"));
        Faults.AssertSameFiles(expected, output, Math.Min(FaultJob.Faithful, job.Pairs - job.Pairs / 3), Math.Min(FaultJob.Unfaithful, job.Pairs / 3));
    }
}
