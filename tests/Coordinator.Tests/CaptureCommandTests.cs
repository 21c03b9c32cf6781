using System.Text;
using System.Text.Json;
using Activations.Contracts;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Jobs;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Microsoft.Extensions.Logging.Abstractions;

namespace Activations.Coordinator.Tests;

/// <summary>The `capture` command in embedded mode, as a user runs it: a real process, real files, torch.load to read them.</summary>
public class CaptureCommandTests
{
    static string TinyModel => EngineReference.TinyModel;

    /// <summary>The sample's q1 questions by pair id.</summary>
    static Dictionary<string, string> Questions() => File.ReadLines(Samples.ResponsesJsonl)
        .Where(l => l.Trim().Length > 0)
        .Select(l => JsonDocument.Parse(l).RootElement)
        .Where(e => e.GetProperty("variant").GetString() == "q1")
        .ToDictionary(e => e.GetProperty("pair_id").GetString()!, e => e.GetProperty("question").GetString()!);

    static CaptureManifest ReadManifest(string output) =>
        JsonSerializer.Deserialize<CaptureManifest>(File.ReadAllText(Path.Combine(output, ManifestFile.FileName)), ManifestFile.JsonOptions)!;

    static float[] Row(PythonReader.Tensor tensor, int row)
    {
        var width = tensor.Shape[1];
        return tensor.Values.AsSpan(row * width, width).ToArray();
    }

    static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= 1e-5, $"{what}: differs by {worst}");
    }

    [Fact]
    public async Task A_jsonl_prompt_file_gives_runs_vectors_in_file_order_split_by_label_and_resumes_without_recomputing()
    {
        using var temp = new TempFolder();
        var runOut = Path.Combine(temp.Path, "run");
        var ran = await CliProcess.RunAsync(CliProcess.Coordinator, ["run", "--scores", Samples.ScoresCsv, "--responses", Samples.ResponsesJsonl, "--model", TinyModel, "--out", runOut]);
        Assert.True(ran.ExitCode == 0, ran.Error);
        var study = ManifestFile.Read(Path.Combine(runOut, ManifestFile.FileName));

        // The same questions, interleaved and under other field names: ids and labels of any shape.
        var questions = Questions();
        var order = new List<(string Id, string Label)>();
        for (var i = 0; i < Math.Max(study.PairIds.Faithful.Count, study.PairIds.Unfaithful.Count); i++)
        {
            if (i < study.PairIds.Unfaithful.Count) order.Add((study.PairIds.Unfaithful[i], "unfaithful"));
            if (i < study.PairIds.Faithful.Count) order.Add((study.PairIds.Faithful[i], "faithful"));
        }
        var prompts = temp.File("prompts.jsonl", string.Join('\n', order.Select(o =>
            JsonSerializer.Serialize(new { uid = o.Id, prompt = questions[o.Id], kind = o.Label, other = 1 }))) + "\n");
        var captureOut = Path.Combine(temp.Path, "capture");
        string[] capture = ["capture", "--prompts", prompts, "--text-field", "prompt", "--id-field", "uid", "--label-field", "kind",
            "--model", TinyModel, "--out", captureOut, "--format", "pt,safetensors"];
        var captured = await CliProcess.RunAsync(CliProcess.Coordinator, capture);
        Assert.True(captured.ExitCode == 0, captured.Error);

        var manifest = ReadManifest(captureOut);
        Assert.Equal(order.Select(o => o.Id), manifest.Ids);
        Assert.Equal(order.Select(o => o.Label), manifest.Labels!);
        Assert.Equal(study.PairIds.Faithful, manifest.LabelRows!["faithful"]);
        Assert.Equal(study.PairIds.Unfaithful, manifest.LabelRows!["unfaithful"]);
        Assert.Null(manifest.PromptTemplate);
        Assert.Equal(["blocks.12.hook_resid_post", "blocks.18.hook_resid_post", "blocks.24.hook_resid_post", "blocks.6.hook_resid_post"],
            manifest.Hooks.Select(h => h.Name).Order(StringComparer.Ordinal));
        foreach (var layer in new[] { 6, 12, 18, 24 })
        {
            var fromRun = PythonReader.Read(Path.Combine(runOut, ActivationFileWriter.FileNameFor(layer)));
            var file = Path.Combine(captureOut, $"blocks.{layer}.hook_resid_post.pt");
            var read = PythonReader.Read(file);
            Assert.StartsWith("torch.load(weights_only=True)", read.Reader);
            Assert.Equal(["activations", "activations.faithful", "activations.unfaithful"], read.Tensors.Keys.Order(StringComparer.Ordinal));
            var all = read.Tensors["activations"];
            Assert.Equal([order.Count, 48], all.Shape);
            for (var row = 0; row < order.Count; row++)
            {
                var (id, label) = order[row];
                var runTensor = fromRun.Tensors[label];
                var runRow = (label == "faithful" ? study.PairIds.Faithful : study.PairIds.Unfaithful).ToList().IndexOf(id);
                AssertClose(Row(runTensor, runRow), Row(all, row), $"layer {layer} row {row} ({id})");
            }
            // Each label's tensor is run's tensor for that class, row for row.
            Assert.Equal(fromRun.Tensors["faithful"].Shape, read.Tensors["activations.faithful"].Shape);
            AssertClose(fromRun.Tensors["faithful"].Values, read.Tensors["activations.faithful"].Values, $"layer {layer} faithful");
            AssertClose(fromRun.Tensors["unfaithful"].Values, read.Tensors["activations.unfaithful"].Values, $"layer {layer} unfaithful");
            var safetensors = PythonReader.Read(Path.ChangeExtension(file, ".safetensors"));
            Assert.Equal(all.Values, safetensors.Tensors["activations"].Values);
            Assert.Equal($"blocks.{layer}.hook_resid_post", safetensors.Metadata!["hook"]);
        }

        var before = File.GetLastWriteTimeUtc(Path.Combine(captureOut, "blocks.6.hook_resid_post.pt"));
        var again = await CliProcess.RunAsync(CliProcess.Coordinator, capture);
        Assert.True(again.ExitCode == 0, again.Error);
        Assert.Contains("(resumed; 0 questions computed in this run)", again.Output);
        Assert.True(File.GetLastWriteTimeUtc(Path.Combine(captureOut, "blocks.6.hook_resid_post.pt")) >= before);
    }

    [Fact]
    public async Task A_prompt_over_the_token_limit_fails_the_capture_naming_it_or_is_dropped_on_request_leaving_the_other_rows_unchanged()
    {
        using var temp = new TempFolder();
        var texts = Questions().Values.Take(4).ToArray();
        var tooLong = string.Concat(Enumerable.Repeat("Think very carefully about this. ", 20)) + texts[2];
        string[] ids = ["p0", "p1", "p2", "p3"];
        var prompts = temp.File("prompts.jsonl", string.Join('\n', ids.Select((id, i) =>
            JsonSerializer.Serialize(new { id, question = i == 2 ? tooLong : texts[i] }))) + "\n");
        var output = Path.Combine(temp.Path, "out");
        string[] capture = ["capture", "--prompts", prompts, "--model", TinyModel, "--out", output, "--max-tokens", "64"];

        var failed = await CliProcess.RunAsync(CliProcess.Coordinator, capture);
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("more than the limit of 64", failed.Error);
        Assert.Empty(Directory.GetFiles(output, "*.pt"));
        Assert.False(File.Exists(Path.Combine(output, ManifestFile.FileName)));

        var dropped = await CliProcess.RunAsync(CliProcess.Coordinator, [.. capture, "--on-failure", "drop"]);
        Assert.True(dropped.ExitCode == 0, dropped.Error);
        var manifest = ReadManifest(output);
        Assert.Equal(["p0", "p1", "p3"], manifest.Ids);
        var leftOut = Assert.Single(manifest.LeftOut);
        Assert.Equal("p2", leftOut.Id);
        Assert.StartsWith("could not be captured: the question has ", leftOut.Reason);

        // The kept rows are what the three prompts give on their own, in file order.
        var alone = temp.File("alone.jsonl", string.Join('\n', new[] { 0, 1, 3 }.Select(i => JsonSerializer.Serialize(new { id = ids[i], question = texts[i] }))) + "\n");
        var aloneOut = Path.Combine(temp.Path, "alone");
        var reference = await CliProcess.RunAsync(CliProcess.Coordinator, ["capture", "--prompts", alone, "--model", TinyModel, "--out", aloneOut, "--max-tokens", "64"]);
        Assert.True(reference.ExitCode == 0, reference.Error);
        foreach (var layer in new[] { 6, 24 })
        {
            var kept = PythonReader.Read(Path.Combine(output, $"blocks.{layer}.hook_resid_post.pt")).Tensors["activations"];
            var expected = PythonReader.Read(Path.Combine(aloneOut, $"blocks.{layer}.hook_resid_post.pt")).Tensors["activations"];
            Assert.Equal([3, 48], kept.Shape);
            AssertClose(expected.Values, kept.Values, $"layer {layer}");
        }
    }

    [Fact]
    public async Task A_csv_prompt_file_matches_the_engine_and_a_template_changes_the_vectors_and_the_job()
    {
        using var temp = new TempFolder();
        var questions = Questions().Take(12).ToList();
        static string Quote(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";
        var csv = new StringBuilder("note,id,question\n");
        foreach (var (id, question) in questions)
        {
            csv.Append($"\"a, quoted \"\"note\"\"\",{id},{Quote(question)}\n");
        }
        var prompts = temp.File("prompts.csv", csv.ToString());
        var output = Path.Combine(temp.Path, "out");
        string[] capture = ["capture", "--prompts", prompts, "--model", TinyModel, "--out", output, "--layers", "12", "--hooks", "blocks.3.attn.hook_z"];
        var plain = await CliProcess.RunAsync(CliProcess.Coordinator, capture);
        Assert.True(plain.ExitCode == 0, plain.Error);
        var manifest = ReadManifest(output);
        Assert.Equal(questions.Select(q => q.Key), manifest.Ids);
        Assert.Null(manifest.Labels);

        HookPoint[] hooks = [HookPoint.ResidPost(12), HookPoint.Parse("blocks.3.attn.hook_z")];
        var spec = new CaptureSpec { Hooks = [.. hooks.Order()], Pooling = Pooling.Mean, BosPolicy = BosPolicy.NoBos, Device = ComputeDevice.Cpu, Dtype = ComputeDtype.Float32 };
        using var engine = ActivationEngine.Load(ModelFolder.Open(TinyModel), spec, NullLogger.Instance);
        var expected = engine.Capture(questions.Select(q => q.Value).ToList(), spec, 1);
        var plainVectors = new Dictionary<HookPoint, PythonReader.Tensor>();
        foreach (var hook in hooks)
        {
            var read = PythonReader.Read(Path.Combine(output, $"{hook.Name}.pt"));
            Assert.Equal(["activations"], read.Tensors.Keys);
            plainVectors[hook] = read.Tensors["activations"];
            for (var row = 0; row < questions.Count; row++)
            {
                AssertClose(expected[row].Vectors![hook], Row(read.Tensors["activations"], row), $"{hook} row {row}");
            }
        }

        // The template wraps each text: other vectors, another job in the same store, recorded in the manifest.
        const string template = "<|im_start|>user\n{text}<|im_end|>\n";
        var wrapped = await CliProcess.RunAsync(CliProcess.Coordinator, [.. capture, "--prompt-template", template]);
        Assert.True(wrapped.ExitCode == 0, wrapped.Error);
        Assert.DoesNotContain("resumed", wrapped.Output);
        Assert.Equal(template, ReadManifest(output).PromptTemplate);
        var templated = engine.Capture(questions.Select(q => template.Replace("{text}", q.Value)).ToList(), spec, 1);
        var resid = PythonReader.Read(Path.Combine(output, "blocks.12.hook_resid_post.pt")).Tensors["activations"];
        for (var row = 0; row < questions.Count; row++)
        {
            AssertClose(templated[row].Vectors![hooks[0]], Row(resid, row), $"templated row {row}");
        }
        var moved = resid.Values.Zip(plainVectors[hooks[0]].Values, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(moved > 1e-3, $"the template did not change the vectors (max difference {moved})");
        var status = await CliProcess.RunAsync(CliProcess.Coordinator, ["status", "--out", output]);
        Assert.Equal(2, status.Output.Split('\n').Count(l => l.Contains("completed  12/12 captured")));
    }
}
