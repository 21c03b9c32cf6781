using System.Diagnostics;
using Activations.Contracts.Messages;
using Activations.Coordinator.Tests;
using Activations.TestHooks;
using Xunit.Abstractions;

namespace Activations.Integration.Tests;

/// <summary>
/// A question that kills the worker's process (out of memory, a native crash) must not crash-loop the workers
/// forever: the broker counts the deaths, the question is failed after it killed the worker 3 times (twice in a batch,
/// then once running alone), and the rest of the job finishes.
/// </summary>
[Collection(ServersCollection.Name)]
public class CrashLoopTests(ITestOutputHelper log)
{
    static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(3);

    /// <summary>Restarts the worker (with the test hook that kills it, tests/TestHooks) whenever it dies, as compose's restart policy or a Deployment would; counts its deaths.</summary>
    sealed class Supervisor : IAsyncDisposable
    {
        readonly CancellationTokenSource stop = new();
        readonly Task loop;

        public Supervisor(TestServers.Isolation servers, string dieOn)
        {
            loop = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    using var process = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "crashing"), new Dictionary<string, string?>
                    {
                        ["DOTNET_STARTUP_HOOKS"] = Path.Combine(AppContext.BaseDirectory, "Activations.TestHooks.dll"),
                        [DyingEngineHost.TextVariable] = dieOn,
                    });
                    try
                    {
                        await process.WaitAsync(Timeout.InfiniteTimeSpan).WaitAsync(stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        process.Kill();
                        return;
                    }
                    if (process.Error.Contains(DyingEngineHost.DyingLine))
                    {
                        Interlocked.Increment(ref deaths);
                    }
                    Output += process.Output + process.Error;
                }
            });
        }

        int deaths;

        public int Deaths => Volatile.Read(ref deaths);

        /// <summary>Output of every worker that ended.</summary>
        public string Output { get; private set; } = "";

        public async ValueTask DisposeAsync()
        {
            stop.Cancel();
            await loop;
        }
    }

    [Fact]
    public async Task A_question_that_kills_the_worker_process_fails_after_3_deaths_the_last_alone_the_rest_finishes_and_a_rerun_computes_it()
    {
        using var temp = new TempFolder();
        const string poison = "KILLS-THE-WORKER";
        var job = FaultJob.Generate(Path.Combine(temp.Path, "inputs"), question: (i, text) => i == 10 ? $"{text} {poison}" : text);
        var expected = await Faults.EmbeddedRunAsync(job);
        await using var servers = await TestServers.IsolateAsync();
        var clock = Stopwatch.StartNew();
        var output = Path.Combine(temp.Path, "out");
        int deaths;
        await using (var supervisor = new Supervisor(servers, poison))
        {
            await DistributedJobTests.WaitForConsumersAsync(servers, Faults.Queue, 1);
            var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, job.Distributed(output, servers), JobTimeout);
            deaths = supervisor.Deaths;
            log.WriteLine($"first run: {clock.Elapsed.TotalSeconds:F1} s, {deaths} worker deaths");
            Assert.True(exitCode == 1, stdout + stderr + supervisor.Output);
            const string want = "error: 1 question(s) could not be captured, so no file was written: pair p_0010: the worker process died 3 times on it, 1 of them running it alone. "
                + "Fix or remove them, or rerun with --on-failure drop to leave them out.";
            Assert.True(stderr.Trim() == want, stderr + "\n--- test worker output:\n" + supervisor.Output);
        }
        // Twice in a batch (the questions in hand at both deaths are then moved to isolation, each to run alone), then
        // once running it alone. A question moved twice (its batch unacknowledged when a question alone killed the
        // process: IsolationGate) would die again, alone, after the job ended.
        Assert.Equal(3, deaths);
        // Every other question has its result: the questions that were in hand at each death were not failed with it.
        Assert.Equal([(long)job.Questions - 1], await servers.QueryAsync<long>("SELECT count(*) FROM question_results"));
        Assert.Equal(["p_0010"], await servers.QueryAsync<string>("SELECT q.pair_id FROM question_failures f JOIN questions q USING (job_id, question_index)"));
        Assert.Equal(0u, await Faults.ReadyMessagesAsync(servers, Faults.Queue));
        Assert.Equal(0u, await Faults.ReadyMessagesAsync(servers, QueueNames.IsolatedQuestions(Activations.Worker.Loading.ModelFingerprint.Compute(Activations.Worker.Loading.ModelFolder.Open(Faults.Model)))));

        // The cause is gone (a worker without the fault): the same command computes the failed question again.
        using var worker = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "healthy"));
        await DistributedJobTests.WaitForConsumersAsync(servers, Faults.Queue, 1, worker);
        var rerun = await CliProcess.RunAsync(CliProcess.Coordinator, job.Distributed(output, servers), JobTimeout);
        Assert.True(rerun.ExitCode == 0, rerun.Output + rerun.Error);
        Assert.Contains("(resumed; 1 questions computed in this run)", rerun.Output);
        Assert.Equal(["healthy"], await servers.QueryAsync<string>("SELECT worker FROM question_results r JOIN questions q USING (job_id, question_index) WHERE q.pair_id = 'p_0010'"));
        Assert.Equal([0L], await servers.QueryAsync<long>("SELECT count(*) FROM question_failures"));
        Faults.AssertSameFiles(expected, output, FaultJob.Faithful, FaultJob.Unfaithful);
        log.WriteLine($"whole test: {clock.Elapsed.TotalSeconds:F1} s");
    }
}
