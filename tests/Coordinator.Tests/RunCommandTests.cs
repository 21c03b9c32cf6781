using Activations.Coordinator.Assembly;

namespace Activations.Coordinator.Tests;

/// <summary>The `run` command in embedded mode, as a user runs it: a real process, real files.</summary>
public class RunCommandTests
{
    static string TinyModel => EngineReference.TinyModel;

    static string[] Run(string output, params string[] extra) =>
        ["run", "--scores", Samples.ScoresCsv, "--responses", Samples.ResponsesJsonl, "--model", TinyModel, "--out", output, .. extra];

    [Fact]
    public async Task Embedded_run_writes_every_layer_with_the_engines_vectors_and_resumes_without_recomputing()
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "activations");
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, Run(output));
        Assert.True(exitCode == 0, stderr);
        Assert.Contains("Found 35 faithful pairs", stdout);
        Assert.Contains("Using 30 faithful pairs (capped at max_faithful=30)", stdout);
        Assert.Contains("Using 15 unfaithful pairs (capped at max_unfaithful=20)", stdout);
        Assert.Contains("Progress 45/45 questions", stdout);

        var manifest = EngineReference.AssertFilesMatchEngine(output, Samples.ResponsesJsonl, TinyModel, [6, 12, 18, 24]);
        Assert.Equal(30, manifest.PairIds.Faithful.Count);
        Assert.Equal(15, manifest.PairIds.Unfaithful.Count);
        Assert.Equal("float32", manifest.Dtype);

        var before = File.GetLastWriteTimeUtc(Path.Combine(output, "layer_6_activations.pt"));
        var again = await CliProcess.RunAsync(CliProcess.Coordinator, Run(output));
        Assert.True(again.ExitCode == 0, again.Error);
        Assert.Contains("(resumed; 0 questions computed in this run)", again.Output);
        Assert.DoesNotContain("Loaded 25 of 28 layers", again.Output);
        Assert.True(File.GetLastWriteTimeUtc(Path.Combine(output, "layer_6_activations.pt")) >= before);

        var status = await CliProcess.RunAsync(CliProcess.Coordinator, ["status", "--out", output]);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("completed  45/45 captured, 0 failed", status.Output);
    }

    [Theory]
    [InlineData("few-unfaithful")]
    [InlineData("header-only")]
    public async Task A_selection_that_cannot_meet_the_contract_is_refused_before_the_store_and_leaves_the_folder_untouched(string selection)
    {
        using var temp = new TempFolder();
        // An output folder with a file of the user's in it: it must stay exactly as it was.
        var output = Directory.CreateDirectory(Path.Combine(temp.Path, "activations")).FullName;
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        var before = Directory.GetFileSystemEntries(output, "*", SearchOption.AllDirectories).Order().ToArray();
        var stamp = Directory.GetLastWriteTimeUtc(output);
        string[] arguments = selection == "header-only"
            ? ["run", "--scores", temp.File("scores.csv", "pair_id,is_faithful\n"), "--responses", Samples.ResponsesJsonl, "--model", TinyModel, "--out", output]
            : Run(output, "--max-unfaithful", "5");
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, arguments);
        Assert.True(exitCode == 3, stdout + stderr);
        var error = Assert.Single(stderr.Trim().Split('\n'));
        Assert.Equal(selection == "header-only"
            ? "error: Phase 3 Contract Violation: too few faithful samples: the selection has 0 faithful pairs, at least 10 are required"
            : "error: Phase 3 Contract Violation: too few unfaithful samples: the selection has 5 unfaithful pairs, at least 10 are required", error);
        // Refused before the model was loaded, the store created or any question computed.
        Assert.DoesNotContain("Loaded", stdout);
        Assert.DoesNotContain("Progress", stdout);
        Assert.Equal(before, Directory.GetFileSystemEntries(output, "*", SearchOption.AllDirectories).Order().ToArray());
        Assert.Equal(stamp, Directory.GetLastWriteTimeUtc(output));
        Assert.False(File.Exists(Path.Combine(output, "activations.db")));
    }

    [Fact]
    public async Task A_question_over_the_token_limit_fails_the_job_naming_the_pair_or_is_dropped_on_request()
    {
        using var temp = new TempFolder();
        var responses = temp.File("responses.jsonl", string.Join('\n', File.ReadLines(Samples.ResponsesJsonl).Select(line =>
            line.Contains("\"num_003\"") && line.Contains("\"q1\"")
                ? line.Replace("\"question\": \"", "\"question\": \"" + string.Concat(Enumerable.Repeat("Think very carefully about this. ", 20)))
                : line)));
        var output = Path.Combine(temp.Path, "out");
        string[] arguments = ["run", "--scores", Samples.ScoresCsv, "--responses", responses, "--model", TinyModel, "--out", output, "--max-tokens", "64"];
        var failed = await CliProcess.RunAsync(CliProcess.Coordinator, arguments);
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("pair num_003: the question has", failed.Error);
        Assert.Contains("more than the limit of 64", failed.Error);
        Assert.Empty(Directory.GetFiles(output, "*.pt"));

        var dropped = await CliProcess.RunAsync(CliProcess.Coordinator, [.. arguments, "--on-failure", "drop"]);
        Assert.True(dropped.ExitCode == 0, dropped.Error);
        Assert.Contains("Leaving out 1 question(s) that could not be captured: pair num_003", dropped.Output);
        var manifest = ManifestFile.Read(Path.Combine(output, ManifestFile.FileName));
        Assert.Equal(29, manifest.PairIds.Faithful.Count);
        Assert.DoesNotContain("num_003", manifest.PairIds.Faithful);
    }

    [Fact]
    public async Task Help_explains_every_option()
    {
        var (exitCode, stdout, _) = await CliProcess.RunAsync(CliProcess.Coordinator, ["run", "--help"]);
        Assert.Equal(0, exitCode);
        foreach (var option in new[] { "--scores", "--responses", "--model", "--out", "--layers", "--max-faithful", "--max-unfaithful", "--variant", "--pooling", "--prepend-bos", "--device", "--dtype", "--batch-size", "--rabbitmq", "--postgres", "--local-worker", "--max-tokens", "--on-failure" })
        {
            Assert.Contains(option, stdout);
        }
    }
}
