using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.Coordinator.Tests;
using Activations.TestHooks;
using Activations.Worker.Loading;
using Xunit.Abstractions;

namespace Activations.Integration.Tests;

/// <summary>
/// Nothing lost, nothing corrupted: a distributed job of 300 questions (tiny model, real RabbitMQ and PostgreSQL,
/// workers as processes) survives a fault, and its files equal the embedded run of the same job.
/// </summary>
[Collection(ServersCollection.Name)]
public class FaultTests(ITestOutputHelper log)
{
    static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(2);

    static FaultJob Job => Faults.StandardJob;

    async Task AssertCompleteAsync(TestServers.Isolation servers, string output, string expected, Stopwatch clock)
    {
        Assert.Equal([(long)Job.Questions], await servers.QueryAsync<long>("SELECT count(*) FROM question_results"));
        Assert.Equal([(long)Job.Questions], await servers.QueryAsync<long>("SELECT count(DISTINCT question_index) FROM question_results"));
        Assert.Equal([0L], await servers.QueryAsync<long>("SELECT count(*) FROM question_failures"));
        Assert.Equal(["completed"], await servers.QueryAsync<string>("SELECT status FROM jobs"));
        Faults.AssertSameFiles(expected, output, FaultJob.Faithful, FaultJob.Unfaithful);
        log.WriteLine($"distributed part: {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task A_worker_killed_while_holding_unacknowledged_questions_loses_nothing()
    {
        var expected = await Faults.EmbeddedRunAsync(Job);
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var clock = Stopwatch.StartNew();
        using var started = await Faults.StartWorkerThenJobAsync(servers, Job, temp.Path, "first");
        var (first, coordinator, output) = started;

        var recorded = await Faults.WaitForResultsAsync(servers, 40, JobTimeout, coordinator, first);
        first.Kill(); // SIGKILL with a prefetch of 16: its unacknowledged questions go back to the queue
        var atKill = await Faults.ResultCountAsync(servers);
        Assert.True(atKill < Job.Questions, $"the worker finished the job ({atKill}) before it was killed");
        using var second = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "second"));

        Assert.True(await Faults.ExitAsync(servers, coordinator, JobTimeout, second) == 0, coordinator.Output + coordinator.Error);
        log.WriteLine($"killed the first worker at {recorded}..{atKill} results");
        Assert.Contains("second", await servers.QueryAsync<string>("SELECT DISTINCT worker FROM question_results"));
        await AssertCompleteAsync(servers, output, expected, clock);
    }

    [Fact]
    public async Task RabbitMQ_killed_and_restarted_mid_job_the_job_completes()
    {
        var expected = await Faults.EmbeddedRunAsync(Job);
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var clock = Stopwatch.StartNew();
        using var started = await Faults.StartWorkerThenJobAsync(servers, Job, temp.Path, "worker");
        var (worker, coordinator, output) = started;

        await Faults.WaitForResultsAsync(servers, 40, JobTimeout, coordinator, worker);
        // The job is mid-way when the broker dies. (Counted before the kill: on a loaded machine the restart script
        // may wait long enough for the management API that the job has already finished once it returns.)
        var beforeKill = await Faults.ResultCountAsync(servers);
        Assert.True(beforeKill < Job.Questions, $"the job finished ({beforeKill}) before RabbitMQ was killed");
        await Faults.RestartAsync("ACTIVATIONS_TEST_RESTART_RABBITMQ", "--kill", "3");
        var afterRestart = await Faults.ResultCountAsync(servers);
        log.WriteLine($"{beforeKill} results when RabbitMQ was killed, {afterRestart} when it was back");

        Assert.True(await Faults.ExitAsync(servers, coordinator, JobTimeout, worker) == 0, coordinator.Output + coordinator.Error);
        Assert.False(worker.HasExited, worker.Output + worker.Error);
        await AssertCompleteAsync(servers, output, expected, clock);
    }

    [Fact]
    public async Task PostgreSQL_killed_and_restarted_mid_job_the_job_completes_without_duplicates()
    {
        var expected = await Faults.EmbeddedRunAsync(Job);
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var clock = Stopwatch.StartNew();
        using var started = await Faults.StartWorkerThenJobAsync(servers, Job, temp.Path, "worker");
        var (worker, coordinator, output) = started;

        var beforeKill = await Faults.WaitForResultsAsync(servers, 40, JobTimeout, coordinator, worker);
        Npgsql.NpgsqlConnection.ClearAllPools();
        await Faults.RestartAsync("ACTIVATIONS_TEST_RESTART_POSTGRES", "--kill", "3");
        Npgsql.NpgsqlConnection.ClearAllPools();
        var afterRestart = await Faults.ResultCountAsync(servers);
        log.WriteLine($"{beforeKill} results before the crash, {afterRestart} when PostgreSQL was back");
        Assert.True(beforeKill < Job.Questions);
        // Every row committed before the crash is still there (the coordinator's sessions commit synchronously).
        Assert.True(afterRestart >= beforeKill, $"{beforeKill} rows before the crash, {afterRestart} after");

        Assert.True(await Faults.ExitAsync(servers, coordinator, JobTimeout, worker) == 0, coordinator.Output + coordinator.Error);
        Assert.Contains("Store unavailable", coordinator.Output + coordinator.Error);
        Assert.False(worker.HasExited, worker.Output + worker.Error);
        await AssertCompleteAsync(servers, output, expected, clock);
    }

    [Fact]
    public async Task The_coordinator_killed_and_run_again_resumes_and_computes_only_what_has_no_result()
    {
        var expected = await Faults.EmbeddedRunAsync(Job);
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var clock = Stopwatch.StartNew();
        var statsA = Path.Combine(temp.Path, "a.json");
        var statsB = Path.Combine(temp.Path, "b.json");
        using var workerA = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "a", statsA));
        await DistributedJobTests.WaitForConsumersAsync(servers, Faults.Queue, 1, workerA);
        var output = Path.Combine(temp.Path, "out");
        using var first = CliProcess.Start(CliProcess.Coordinator, Job.Distributed(output, servers));
        await Faults.WaitForResultsAsync(servers, 60, JobTimeout, first, workerA);
        first.Kill();
        // Freeze the rest: stop the worker too, so what is left in the queue can be counted exactly.
        workerA.Kill();
        var recordedBefore = await Faults.ResultCountAsync(servers);
        Assert.True(recordedBefore < Job.Questions);
        Assert.False(File.Exists(Path.Combine(output, "manifest.json")));
        // Worker A's unacknowledged questions go back to the queue once the broker has dropped its consumer.
        uint leftover = 0;
        Assert.True(await Faults.EventuallyAsync(async () =>
        {
            var now = await Faults.QueueStateAsync(servers, Faults.Queue);
            await Task.Delay(500);
            var later = await Faults.QueueStateAsync(servers, Faults.Queue);
            leftover = later.Ready;
            return now.Consumers == 0 && later.Consumers == 0 && now.Ready == later.Ready;
        }, TimeSpan.FromSeconds(20)));

        // The same command again. Worker B starts once the second run has chosen what to republish, so it consumes
        // the questions left in the queue and the republished ones, both counted.
        using var second = CliProcess.Start(CliProcess.Coordinator, Job.Distributed(output, servers));
        Assert.True(await Faults.EventuallyAsync(() => Task.FromResult(second.HasExited || (second.Output + second.Error).Contains("publishing the other")), JobTimeout));
        using var workerB = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "b", statsB));
        Assert.True(await Faults.ExitAsync(second, JobTimeout, workerB) == 0, second.Output + second.Error);

        var logged = Regex.Match(second.Output + second.Error, @"(\d+) of (\d+) questions already have a result; publishing the other (\d+)");
        Assert.True(logged.Success, second.Output + second.Error);
        var (finished, total, published) = (int.Parse(logged.Groups[1].Value), int.Parse(logged.Groups[2].Value), int.Parse(logged.Groups[3].Value));
        Assert.Equal(Job.Questions, total);
        Assert.Equal(total, finished + published);
        Assert.Contains($"(resumed; {published} questions computed in this run)", second.Output);
        // Results the first worker published while no coordinator was listening are recorded before the second run
        // chooses what to republish: none of the questions worker A answered is sent again.
        var answeredByA = (long)Faults.Stats(statsA)["questions"]!;
        Assert.InRange(finished, (int)Math.Max(recordedBefore, answeredByA), Job.Questions - 1);
        log.WriteLine($"recorded before the restart {recordedBefore}, at its start {finished}; left in the queue {leftover}; republished {published}");

        // Worker B consumed exactly what was left in the queue plus what the second run published: no question
        // recorded before the restart was sent again.
        Assert.True(await Faults.EventuallyAsync(async () =>
            File.Exists(statsB) && (long)Faults.Stats(statsB)["messages"]! == leftover + published && await Faults.ReadyMessagesAsync(servers, Faults.Queue) == 0,
            TimeSpan.FromSeconds(30)), $"worker b: {(File.Exists(statsB) ? File.ReadAllText(statsB) : "no stats")}, expected {leftover} + {published} messages");
        log.WriteLine($"worker a: {Faults.Stats(statsA).ToJsonString()}; worker b: {Faults.Stats(statsB).ToJsonString()}");
        Assert.True((long)Faults.Stats(statsB)["questions"]! <= leftover + published);
        await AssertCompleteAsync(servers, output, expected, clock);
    }

    [Fact]
    public async Task Duplicate_and_late_results_change_nothing()
    {
        var expected = await Faults.EmbeddedRunAsync(Job);
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var clock = Stopwatch.StartNew();
        using var started = await Faults.StartWorkerThenJobAsync(servers, Job, temp.Path, "worker");
        var (worker, coordinator, output) = started;
        await Faults.WaitForResultsAsync(servers, 30, JobTimeout, coordinator, worker);

        var jobId = (await servers.QueryAsync<Guid>("SELECT id FROM jobs"))[0];
        var index = (await servers.QueryAsync<int>("SELECT min(question_index) FROM question_results"))[0];
        var original = await VectorsOfAsync(servers, index);
        var pairId = (await servers.QueryAsync<string>($"SELECT pair_id FROM questions WHERE question_index = {index}"))[0];
        var hidden = original.Length / 4 / FaultJob.Layers.Length;
        var bus = await Faults.StartBusAsync(servers);
        try
        {
            // A worker's duplicate with other values, while the job runs: the first result recorded stays.
            await bus.Publish(new QuestionsAnswered { JobId = jobId, Results = [Forged(jobId, index, pairId, hidden, 42f)], Failures = [] });
            Assert.True(await Faults.ExitAsync(servers, coordinator, JobTimeout, worker) == 0, coordinator.Output + coordinator.Error);
            Assert.Equal(original, await VectorsOfAsync(servers, index));
            await AssertCompleteAsync(servers, output, expected, clock);
            var checksum = await ChecksumAsync(servers);
            var files = Directory.GetFiles(output).ToDictionary(f => f, File.ReadAllBytes);

            // The completed job's results queue is gone: a late result for it is dropped by the broker, and the next
            // job's coordinator (its own queue) never sees it.
            Assert.False(await Faults.QueueExistsAsync(servers, QueueNames.Results(jobId)));
            await bus.Publish(new QuestionsAnswered { JobId = jobId, Results = [Forged(jobId, index, pairId, hidden, -7f)], Failures = [] });
            var other = Path.Combine(temp.Path, "other");
            var small = Job.Distributed(other, servers);
            small[Array.IndexOf(small, "--max-faithful") + 1] = "12";
            small[Array.IndexOf(small, "--max-unfaithful") + 1] = "12";
            var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, small, JobTimeout);
            Assert.True(exitCode == 0, stdout + stderr);
            var otherJob = (await servers.QueryAsync<Guid>($"SELECT id FROM jobs WHERE id <> '{jobId}'")).Single();
            Assert.False(await Faults.QueueExistsAsync(servers, QueueNames.Results(jobId)));
            Assert.False(await Faults.QueueExistsAsync(servers, QueueNames.Results(otherJob)));
            Assert.Equal(0u, await Faults.ReadyMessagesAsync(servers, QueueNames.Results(otherJob) + "_error"));
            Assert.Equal(checksum, await ChecksumAsync(servers));
            Assert.Equal(["completed"], await servers.QueryAsync<string>($"SELECT status FROM jobs WHERE id = '{jobId}'"));
            foreach (var (file, bytes) in files)
            {
                Assert.Equal(bytes, File.ReadAllBytes(file));
            }
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    static Task<List<string>> ChecksumAsync(TestServers.Isolation servers) => servers.QueryAsync<string>(
        "SELECT md5(string_agg(job_id::text || question_index || hook || encode(vector, 'hex'), ',' ORDER BY job_id, question_index, hook)) FROM result_vectors WHERE job_id = (SELECT id FROM jobs ORDER BY created_at LIMIT 1)");

    /// <summary>A question's stored vectors, every hook's, concatenated in hook-name order.</summary>
    static async Task<byte[]> VectorsOfAsync(TestServers.Isolation servers, int index)
        => [.. (await servers.QueryAsync<byte[]>($"SELECT vector FROM result_vectors WHERE question_index = {index} ORDER BY hook")).SelectMany(v => v)];

    static QuestionActivationsCaptured Forged(Guid jobId, int index, string pairId, int hidden, float value) => new()
    {
        JobId = jobId,
        QuestionIndex = index,
        PairId = pairId,
        ModelFingerprint = ModelFingerprint.Compute(ModelFolder.Open(Faults.Model)),
        Vectors = [.. FaultJob.Layers.Select(l => HookVector.Pack(Contracts.HookPoint.ResidPost(l), Enumerable.Repeat(value, hidden).ToArray()))],
        TokenCount = 1,
        Dtype = "float32",
        Device = "cpu",
        Worker = "forger",
    };

    [Fact]
    public async Task Poison_questions_are_retried_then_failed_with_their_reason_and_never_block_the_queue()
    {
        using var temp = new TempFolder();
        const string poison = "POISON-PILL";
        var job = FaultJob.Generate(Path.Combine(temp.Path, "inputs"), question: (i, text) => i switch
        {
            10 => $"Which is larger: 5 or 7? {poison}",
            20 => "Which is larger: " + string.Join(" or ", Enumerable.Range(1, 80)) + "?",
            _ => text,
        });
        // The test hook (tests/TestHooks) decorates the engine of both executables through DI.
        var environment = new Dictionary<string, string?>
        {
            ["DOTNET_STARTUP_HOOKS"] = Path.Combine(AppContext.BaseDirectory, "Activations.TestHooks.dll"),
            [PoisonedEngineHost.TextVariable] = poison,
        };
        var expected = await Faults.EmbeddedRunAsync(job, environment, "--max-tokens", "64", "--on-failure", "drop");
        await using var servers = await TestServers.IsolateAsync();
        var clock = Stopwatch.StartNew();
        using var worker = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "worker"), environment);
        await DistributedJobTests.WaitForConsumersAsync(servers, Faults.Queue, 1, worker);
        var output = Path.Combine(temp.Path, "out");

        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, job.Distributed(output, servers, "--max-tokens", "64"), JobTimeout);
        Assert.True(exitCode == 1, stdout + stderr);
        var error = Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith("error: 2 question(s) could not be captured, so no file was written: pair p_0010: the worker failed on it after 4 attempts: ", error);
        Assert.Contains(poison, error);
        Assert.Contains("; pair p_0020: the question has ", error);
        Assert.Contains("more than the limit of 64", error);
        Assert.False(Directory.Exists(output) && Directory.GetFiles(output, "*.pt").Length > 0);
        Assert.Equal([(long)job.Questions - 2], await servers.QueryAsync<long>("SELECT count(*) FROM question_results"));
        Assert.Equal(["p_0010", "p_0020"], await servers.QueryAsync<string>("SELECT q.pair_id FROM question_failures f JOIN questions q USING (job_id, question_index) ORDER BY 1"));
        Assert.Equal(0u, await Faults.ReadyMessagesAsync(servers, Faults.Queue + "_error"));
        Assert.Contains("failed on its last attempt", worker.Output + worker.Error);

        // --on-failure drop --keep-failures: the same job resumes (nothing left to compute) and leaves the two pairs out.
        (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, job.Distributed(output, servers, "--max-tokens", "64", "--on-failure", "drop", "--keep-failures"), JobTimeout);
        Assert.True(exitCode == 0, stdout + stderr);
        Assert.Contains("(resumed; 0 questions computed in this run)", stdout);
        Faults.AssertSameFiles(expected, output, FaultJob.Faithful - 2, FaultJob.Unfaithful);
        var manifest = Activations.Coordinator.Assembly.ManifestFile.Read(Path.Combine(output, "manifest.json"));
        Assert.DoesNotContain("p_0010", manifest.PairIds.Faithful);
        Assert.DoesNotContain("p_0020", manifest.PairIds.Faithful);
        log.WriteLine($"distributed part: {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task A_worker_with_another_model_never_answers_with_vectors_and_refuses_questions_sent_to_it()
    {
        var expected = await Faults.EmbeddedRunAsync(Job);
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var clock = Stopwatch.StartNew();
        var foreignModel = Directory.CreateDirectory(Path.Combine(temp.Path, "foreign")).FullName;
        foreach (var file in Directory.GetFiles(Faults.Model))
        {
            File.Copy(file, Path.Combine(foreignModel, Path.GetFileName(file)));
        }
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(foreignModel, "config.json")))!;
        config["rope_theta"] = 1000000;
        File.WriteAllText(Path.Combine(foreignModel, "config.json"), config.ToJsonString());
        var foreignQueue = QueueNames.CaptureQuestions(ModelFingerprint.Compute(ModelFolder.Open(foreignModel)));
        Assert.NotEqual(Faults.Queue, foreignQueue);

        var foreignStats = Path.Combine(temp.Path, "foreign.json");
        using var foreign = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "foreign", foreignStats, foreignModel));
        using var worker = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "worker"));
        await DistributedJobTests.WaitForConsumersAsync(servers, foreignQueue, 1, foreign);
        await DistributedJobTests.WaitForConsumersAsync(servers, Faults.Queue, 1, worker);
        var output = Path.Combine(temp.Path, "out");
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, Job.Distributed(output, servers), JobTimeout);
        Assert.True(exitCode == 0, stdout + stderr);
        Assert.Equal(["worker"], await servers.QueryAsync<string>("SELECT DISTINCT worker FROM question_results"));
        await AssertCompleteAsync(servers, output, expected, clock);

        // A question of this job's model sent straight to the foreign worker's queue: refused, never answered.
        var jobId = (await servers.QueryAsync<Guid>("SELECT id FROM jobs"))[0];
        var text = (await servers.QueryAsync<string>("SELECT text FROM questions WHERE question_index = 0"))[0];
        // The job is complete, so its coordinator deleted its results queue: declared again here to read the refusal.
        await Faults.DeclareResultsQueueAsync(servers, jobId);
        var bus = await Faults.StartBusAsync(servers);
        try
        {
            // The exchange of the queue the foreign worker declared (a quorum queue: a plain queue: address would
            // declare it again with other arguments).
            var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{foreignQueue}"));
            await endpoint.Send(new CaptureQuestion
            {
                JobId = jobId,
                QuestionIndex = 0,
                PairId = (await servers.QueryAsync<string>("SELECT pair_id FROM questions WHERE question_index = 0"))[0],
                Text = text,
                ModelFingerprint = ModelFingerprint.Compute(ModelFolder.Open(Faults.Model)),
                Spec = System.Text.Json.JsonSerializer.Deserialize<Contracts.CaptureSpec>((await servers.QueryAsync<string>("SELECT settings_json FROM jobs"))[0])!,
            });
        }
        finally
        {
            await bus.StopAsync();
        }
        // Refused before its model is touched: answered as a failure with the reason, never with vectors.
        Assert.True(await Faults.EventuallyAsync(async () => await Faults.ReadyMessagesAsync(servers, QueueNames.Results(jobId)) == 1, TimeSpan.FromSeconds(30)),
            foreign.Output + foreign.Error);
        Assert.Contains("this worker holds model", foreign.Output + foreign.Error);
        Assert.Equal(0u, await Faults.ReadyMessagesAsync(servers, foreignQueue));
        Assert.Equal(0u, await Faults.ReadyMessagesAsync(servers, foreignQueue + "_error"));
        Assert.True(File.Exists(foreignStats) && (long)Faults.Stats(foreignStats)["questions"]! == 0 && (long)Faults.Stats(foreignStats)["failed"]! == 1);
        Assert.Equal(["worker"], await servers.QueryAsync<string>("SELECT DISTINCT worker FROM question_results"));
        Assert.False(foreign.HasExited, foreign.Error);
    }
}
