using System.Diagnostics;
using System.Text.Json.Nodes;
using Activations.Contracts.Messages;
using Activations.Coordinator.Tests;
using Activations.Worker.Loading;
using Xunit.Abstractions;

namespace Activations.Integration.Tests;

/// <summary>
/// A coordinator and workers that disagree on the model (here: two revisions of one Hub repository, as a compose file
/// that passed --revision to the workers only did) use different queues. The job must not wait silently.
/// </summary>
[Collection(ServersCollection.Name)]
public class StallTests(ITestOutputHelper log)
{
    /// <summary>
    /// A Hugging Face cache holding test/tiny at two revisions: main (the tiny model) and v2 (the same with another
    /// rope_theta, so another fingerprint and another queue).
    /// </summary>
    static string HubCache(string root)
    {
        var repo = Path.Combine(root, "hub", "models--test--tiny");
        foreach (var (revision, commit, theta) in new[] { ("main", new string('a', 40), (double?)null), ("v2", new string('b', 40), 1000000.0) })
        {
            Directory.CreateDirectory(Path.Combine(repo, "refs"));
            File.WriteAllText(Path.Combine(repo, "refs", revision), commit);
            var snapshot = Directory.CreateDirectory(Path.Combine(repo, "snapshots", commit)).FullName;
            foreach (var file in Directory.GetFiles(Faults.Model))
            {
                File.Copy(file, Path.Combine(snapshot, Path.GetFileName(file)));
            }
            if (theta is { } value)
            {
                var config = JsonNode.Parse(File.ReadAllText(Path.Combine(snapshot, "config.json")))!;
                config["rope_theta"] = value;
                File.WriteAllText(Path.Combine(snapshot, "config.json"), config.ToJsonString());
            }
        }
        return Path.Combine(root, "hub");
    }

    [Fact]
    public async Task Workers_on_another_revision_are_reported_within_35_s_and_the_stall_timeout_fails_the_job_with_exit_4()
    {
        using var temp = new TempFolder();
        var cache = HubCache(Path.Combine(temp.Path, "hf"));
        var environment = new Dictionary<string, string?> { ["HF_HUB_CACHE"] = cache };
        var job = FaultJob.Generate(Path.Combine(temp.Path, "inputs"), pairs: 60);
        await using var servers = await TestServers.IsolateAsync();
        var mainQueue = QueueNames.CaptureQuestions(ModelFingerprint.Compute(ModelFolder.Open(Path.Combine(cache, "models--test--tiny", "snapshots", new string('a', 40)))));
        var v2Queue = QueueNames.CaptureQuestions(ModelFingerprint.Compute(ModelFolder.Open(Path.Combine(cache, "models--test--tiny", "snapshots", new string('b', 40)))));
        Assert.NotEqual(mainQueue, v2Queue);

        using var worker = CliProcess.Start(CliProcess.Worker, ["--rabbitmq", servers.RabbitMq, "--model", "test/tiny", "--revision", "v2", "--device", "cpu", "--name", "v2"], environment);
        await DistributedJobTests.WaitForConsumersAsync(servers, v2Queue, 1, worker);
        var output = Path.Combine(temp.Path, "out");
        var arguments = job.Arguments(output, "--rabbitmq", servers.RabbitMq, "--postgres", servers.Postgres, "--stall-timeout", "45");
        arguments[Array.IndexOf(arguments, "--model") + 1] = "test/tiny";
        var clock = Stopwatch.StartNew();
        using var coordinator = CliProcess.Start(CliProcess.Coordinator, arguments, environment);

        // The warning: once, within 35 s of the publish, naming the queue, model, revision and fingerprint.
        Assert.True(await Faults.EventuallyAsync(() => Task.FromResult(coordinator.HasExited || coordinator.Output.Contains($"No worker has consumed {mainQueue}")), TimeSpan.FromSeconds(60)),
            coordinator.Output + coordinator.Error);
        var published = coordinator.Output.Split('\n').First(l => l.Contains("Published"));
        var warning = coordinator.Output.Split('\n').Single(l => l.Contains("No worker has consumed"));
        log.WriteLine(published);
        log.WriteLine(warning);
        Assert.InRange(TimeOf(warning) - TimeOf(published), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(35));
        Assert.Contains("model test/tiny at revision (default branch)", warning);
        Assert.Contains($"fingerprint {mainQueue["capture-question-".Length..]}", warning);
        Assert.Contains("same --model and --revision", warning);

        // status shows the queue: every question waiting, no consumer.
        var status = await CliProcess.RunAsync(CliProcess.Coordinator, ["status", "--postgres", servers.Postgres, "--rabbitmq", servers.RabbitMq]);
        Assert.True(status.ExitCode == 0, status.Output + status.Error);
        Assert.Contains($"queue {mainQueue}: {job.Questions} waiting, 0 consumer(s)", status.Output);

        var exitCode = await coordinator.WaitAsync(TimeSpan.FromMinutes(2));
        log.WriteLine($"exit {exitCode} after {clock.Elapsed.TotalSeconds:F0} s");
        Assert.True(exitCode == 4, coordinator.Output + coordinator.Error);
        var error = Assert.Single(coordinator.Error.Trim().Split('\n'));
        Assert.StartsWith("error: no result arrived for 45 s (--stall-timeout); 0 of 60 questions are done. ", error);
        Assert.Contains($"The questions are in {mainQueue}: it has 0 consumer(s) and 60 question(s) waiting.", error);
        Assert.Contains("test/tiny at revision (default branch)", error);
        Assert.Single(coordinator.Output.Split('\n'), l => l.Contains("No worker has consumed"));
        Assert.False(File.Exists(Path.Combine(output, "manifest.json")));
        Assert.Equal(["failed"], await servers.QueryAsync<string>("SELECT status FROM jobs"));

        // With a worker on the job's revision, the same command resumes and finishes.
        using var right = CliProcess.Start(CliProcess.Worker, ["--rabbitmq", servers.RabbitMq, "--model", "test/tiny", "--device", "cpu", "--name", "main"], environment);
        var rerun = await CliProcess.RunAsync(CliProcess.Coordinator, arguments, TimeSpan.FromMinutes(3), environment);
        Assert.True(rerun.ExitCode == 0, rerun.Output + rerun.Error);
        Assert.DoesNotContain("No worker has consumed", rerun.Output);
    }

    [Fact]
    public async Task The_stall_timeout_also_fails_a_job_that_waits_in_the_publish_window()
    {
        // More questions than the publish window lets out unanswered (30,000) and no worker: the coordinator waits
        // for room to publish, never reaching the wait for results, and the same watch must end that wait too.
        using var temp = new TempFolder();
        var job = FaultJob.Generate(Path.Combine(temp.Path, "inputs"), pairs: 45_300);
        await using var servers = await TestServers.IsolateAsync();
        var arguments = job.Distributed(Path.Combine(temp.Path, "out"), servers, "--stall-timeout", "5");
        arguments[Array.IndexOf(arguments, "--max-faithful") + 1] = "30100";
        arguments[Array.IndexOf(arguments, "--max-unfaithful") + 1] = "100";

        var (exitCode, output, error) = await CliProcess.RunAsync(CliProcess.Coordinator, arguments, TimeSpan.FromMinutes(4));

        Assert.True(exitCode == 4, output + error);
        var line = Assert.Single(error.Trim().Split('\n'));
        Assert.StartsWith("error: no result arrived for ", line);
        Assert.Contains("(--stall-timeout); 0 of 30200 questions are done. ", line);
        Assert.DoesNotContain("Published", output);
        Assert.Equal(["failed"], await servers.QueryAsync<string>("SELECT status FROM jobs"));
    }

    /// <summary>The HH:mm:ss stamp of a console log line.</summary>
    static TimeSpan TimeOf(string line) => TimeSpan.Parse(line[..8]);
}
