using System.Security.Cryptography;
using Activations.Contracts;
using Activations.Coordinator.Assembly;
using Activations.Worker.Loading;

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
        var layer12 = PythonReader.Read(Path.Combine(output, "layer_12_activations.pt"));
        Assert.Equal([30, 48], layer12.Tensors["faithful"].Shape);
        Assert.Equal([15, 48], layer12.Tensors["unfaithful"].Shape);

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
        var leftOut = Assert.Single(manifest.LeftOut, l => l.PairId == "num_003");
        Assert.StartsWith("could not be captured: the question has ", leftOut.Reason);
    }

    [Fact]
    public async Task Help_explains_every_option()
    {
        var (exitCode, stdout, _) = await CliProcess.RunAsync(CliProcess.Coordinator, ["run", "--help"]);
        Assert.Equal(0, exitCode);
        foreach (var option in new[] { "--scores", "--responses", "--model", "--out", "--layers", "--hooks", "--format", "--max-faithful", "--max-unfaithful", "--variant", "--pooling", "--prepend-bos", "--device", "--dtype", "--batch-size", "--rabbitmq", "--postgres", "--local-worker", "--max-tokens", "--on-failure" })
        {
            Assert.Contains(option, stdout);
        }
        foreach (var hook in HookPoint.NamePatterns)
        {
            Assert.Contains(hook, stdout);
        }
    }

    [Fact]
    public async Task Hook_points_are_captured_into_pt_and_safetensors_files_with_a_manifest_of_what_ran()
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "activations");
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, Run(output,
            "--hooks", "blocks.2.attn.hook_z,hook_embed,blocks.*.hook_mlp_out", "--layers", "1,2", "--format", "pt,safetensors",
            "--pooling", "last", "--prepend-bos", "--max-faithful", "12", "--max-unfaithful", "10"));
        Assert.True(exitCode == 0, stderr);

        HookPoint[] hooks = [HookPoint.Embed, HookPoint.At(HookKind.AttnZ, 2), HookPoint.ResidPost(1), HookPoint.ResidPost(2),
            .. Enumerable.Range(0, 28).Select(l => HookPoint.At(HookKind.MlpOut, l))];
        var manifest = EngineReference.AssertFilesMatchEngine(output, Samples.ResponsesJsonl, TinyModel, hooks, Pooling.Last, BosPolicy.Bos);
        Assert.Contains("layer_1_activations.pt", Directory.GetFiles(output).Select(Path.GetFileName));
        Assert.Contains("blocks.27.hook_mlp_out_activations.safetensors", Directory.GetFiles(output).Select(Path.GetFileName));

        // Each safetensors file holds what its .pt file holds, and says what it is.
        foreach (var hook in new[] { HookPoint.Embed, HookPoint.ResidPost(2), HookPoint.At(HookKind.AttnZ, 2) })
        {
            var pt = PythonReader.Read(Path.Combine(output, $"{hook.FileStem}.pt"));
            var safetensors = PythonReader.Read(Path.Combine(output, $"{hook.FileStem}.safetensors"), withTorch: false);
            Assert.Equal(pt.Tensors["faithful"].Values, safetensors.Tensors["faithful"].Values);
            Assert.Equal(pt.Tensors["unfaithful"].Values, safetensors.Tensors["unfaithful"].Values);
            Assert.Equal(hook.Name, safetensors.Metadata!["hook"]);
            Assert.Equal("last", safetensors.Metadata["pooling"]);
            Assert.Equal("bos", safetensors.Metadata["bos_policy"]);
            Assert.Equal(TinyModel, safetensors.Metadata["model"]);
        }

        // The manifest, field by field, against the run.
        Assert.Equal(Manifest.ToolVersionOf(typeof(Manifest).Assembly), manifest.ToolVersion);
        Assert.Equal(new ManifestModel(TinyModel, null, null, ModelFingerprint.Compute(ModelFolder.Open(TinyModel))), manifest.Model);
        Assert.Equal(hooks.Order().Select(h => h.Name), manifest.Hooks.Select(h => h.Name));
        Assert.All(manifest.Hooks, h => Assert.Equal(48, h.Width));
        var z = Assert.Single(manifest.Hooks, h => h.Name == "blocks.2.attn.hook_z");
        Assert.Equal(["blocks.2.attn.hook_z_activations.pt", "blocks.2.attn.hook_z_activations.safetensors"], z.Files);
        Assert.Equal(["layer_1_activations.pt", "layer_1_activations.safetensors"], Assert.Single(manifest.Hooks, h => h.Name == "blocks.1.hook_resid_post").Files);
        Assert.Equal(manifest.Hooks.SelectMany(h => h.Files), manifest.Files);
        Assert.Equal([1, 2], manifest.Layers);
        Assert.Equal(("last", "bos", "float32", "float32", "cpu"), (manifest.Pooling, manifest.BosPolicy, manifest.Dtype, manifest.ComputeDtype, manifest.Device));
        var worker = Assert.Single(manifest.Workers);
        Assert.StartsWith("local/", worker.Name);
        Assert.Equal(("cpu", "float32", 22), (worker.Device, worker.ComputeDtype, worker.Questions));
        Assert.Equal("q1", manifest.Variant);
        Assert.Equal(new ManifestCaps(12, 10), manifest.Caps);
        Assert.Equal(Path.GetFullPath(Samples.ScoresCsv), manifest.Inputs.Scores.Path);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Samples.ScoresCsv))), manifest.Inputs.Scores.Sha256);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Samples.ResponsesJsonl))), manifest.Inputs.Responses.Sha256);
        Assert.Equal((12, 10), (manifest.PairIds.Faithful.Count, manifest.PairIds.Unfaithful.Count));
        var withQ1 = File.ReadLines(Samples.ResponsesJsonl).Where(l => l.Contains("\"q1\"")).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("pair_id").GetString()!).ToHashSet();
        var scores = File.ReadLines(Samples.ScoresCsv).Skip(1).Select(l => l.Split(',')).Select(c => (Id: c[0], Faithful: c[1] == "True")).ToList();
        Assert.Equal(scores.Count(p => p.Faithful && withQ1.Contains(p.Id)) - 12, manifest.LeftOut.Count(l => l.Reason == "over the cap (max_faithful=12)"));
        Assert.Equal(scores.Count(p => !p.Faithful && withQ1.Contains(p.Id)) - 10, manifest.LeftOut.Count(l => l.Reason == "over the cap (max_unfaithful=10)"));
        Assert.Equal(scores.Where(p => !withQ1.Contains(p.Id)).Select(p => p.Id), manifest.LeftOut.Where(l => l.Reason == "no q1 response").Select(l => l.PairId));
        Assert.Equal(scores.Count, manifest.LeftOut.Count + 22);
        Assert.Empty(manifest.PairIds.Faithful.Concat(manifest.PairIds.Unfaithful).Intersect(manifest.LeftOut.Select(l => l.PairId)));
        Assert.Equal(22, manifest.TokenCounts.Count);
    }

    [Fact]
    public async Task Another_compute_dtype_is_another_job_and_the_same_resolved_dtype_resumes()
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "activations");
        var first = await CliProcess.RunAsync(CliProcess.Coordinator, Run(output, "--layers", "3"));
        Assert.True(first.ExitCode == 0, first.Error);
        // auto resolves to float32 on this CPU: asking for float32 is the same job.
        var same = await CliProcess.RunAsync(CliProcess.Coordinator, Run(output, "--layers", "3", "--dtype", "float32"));
        Assert.True(same.ExitCode == 0, same.Error);
        Assert.Contains("(resumed; 0 questions computed in this run)", same.Output);
        var bf16 = await CliProcess.RunAsync(CliProcess.Coordinator, Run(output, "--layers", "3", "--dtype", "bfloat16"));
        Assert.True(bf16.ExitCode == 0, bf16.Error);
        Assert.DoesNotContain("resumed", bf16.Output);
        var manifest = ManifestFile.Read(Path.Combine(output, ManifestFile.FileName));
        Assert.Equal("bfloat16", manifest.ComputeDtype);
        Assert.Equal("bfloat16", Assert.Single(manifest.Workers).ComputeDtype);
        var status = await CliProcess.RunAsync(CliProcess.Coordinator, ["status", "--out", output]);
        Assert.Equal(2, status.Output.Split('\n').Count(l => l.Contains("completed  45/45 captured")));
    }
}
