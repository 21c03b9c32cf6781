namespace Activations.Coordinator.Tests;

/// <summary>
/// Bad input, through the real command: one line naming file, line and field, a non-zero exit, no stack trace,
/// no output file, and whatever was already in the output folder untouched. An expectation ending in … is a prefix.
/// </summary>
public class BadInputTests
{
    static string TinyModel => EngineReference.TinyModel;

    static async Task<string> AssertRefused(TempFolder temp, string expectedError, Func<string, string[]> arguments)
    {
        var output = Path.Combine(temp.Path, "out");
        Directory.CreateDirectory(output);
        var keep = Path.Combine(output, "earlier.txt");
        File.WriteAllText(keep, "from an earlier run");
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, arguments(output));
        Assert.Equal(2, exitCode);
        if (expectedError.EndsWith('…'))
        {
            Assert.StartsWith($"error: {expectedError.TrimEnd('…')}", stderr.Trim());
            Assert.Single(stderr.Trim().Split('\n'));
        }
        else
        {
            Assert.Equal($"error: {expectedError}", stderr.Trim());
        }
        Assert.DoesNotContain("   at ", stdout + stderr);
        Assert.Equal(["earlier.txt"], Directory.GetFileSystemEntries(output).Select(Path.GetFileName));
        Assert.Equal("from an earlier run", File.ReadAllText(keep));
        return stderr;
    }

    static string[] Run(string output, string scores, string responses, string? model = null, params string[] extra) =>
        ["run", "--scores", scores, "--responses", responses, "--model", model ?? TinyModel, "--out", output, .. extra];

    [Fact]
    public async Task A_missing_column()
    {
        using var temp = new TempFolder();
        var scores = temp.File("scores.csv", "pair_id,faithful\nnum_001,True\n");
        await AssertRefused(temp, $"{scores}:1: field 'is_faithful': missing column (header has: pair_id, faithful)", o => Run(o, scores, Samples.ResponsesJsonl));
    }

    [Fact]
    public async Task Malformed_json_on_a_line()
    {
        using var temp = new TempFolder();
        var lines = File.ReadAllLines(Samples.ResponsesJsonl);
        lines[2] = "{\"pair_id\": \"num_002\", \"variant\": \"q1\", \"question\": ";
        var responses = temp.File("responses.jsonl", string.Join('\n', lines));
        await AssertRefused(temp, $"{responses}:3: malformed JSON: …", o => Run(o, Samples.ScoresCsv, responses));
    }

    [Fact]
    public async Task A_model_folder_without_weights()
    {
        using var temp = new TempFolder();
        var model = Directory.CreateDirectory(Path.Combine(temp.Path, "model")).FullName;
        foreach (var file in Directory.GetFiles(TinyModel).Where(f => !f.EndsWith(".safetensors")))
        {
            File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        }
        await AssertRefused(temp, $"{model}: no weights: expected model.safetensors or model.safetensors.index.json", o => Run(o, Samples.ScoresCsv, Samples.ResponsesJsonl, model));
    }

    [Theory]
    [InlineData("--layers", "6,28", "--layers: layer 28 is outside the model ({model} has layers 0..27)")]
    [InlineData("--layers", ",", "--layers: no layers were asked for")]
    [InlineData("--layers", "6,x", "--layers: 'x' is not a layer number")]
    [InlineData("--hooks", "blocks.3.hook_foo", "--hooks: unknown hook 'blocks.3.hook_foo': use hook_embed, blocks.L.hook_resid_pre, blocks.L.attn.hook_z, blocks.L.hook_attn_out, blocks.L.hook_resid_mid, blocks.L.hook_mlp_out, blocks.L.hook_resid_post (L a layer number, or *)")]
    [InlineData("--hooks", "hook_embed,blocks.30.hook_mlp_out", "--hooks: blocks.30.hook_mlp_out: layer 30 is outside the model ({model} has layers 0..27)")]
    [InlineData("--hooks", "blocks.-1.hook_mlp_out", "--hooks: 'blocks.-1.hook_mlp_out': '-1' is not a layer number or *")]
    [InlineData("--hooks", "hook_embed,,blocks.1.hook_mlp_out", "--hooks: an empty name in 'hook_embed,,blocks.1.hook_mlp_out': give names separated by single commas")]
    [InlineData("--hooks", " , ", "--hooks: no hooks were asked for")]
    [InlineData("--format", "pt,npz", "--format: unknown format 'npz': use pt, safetensors or pt,safetensors")]
    [InlineData("--max-tokens", "0", "--max-tokens: must be at least 1")]
    [InlineData("--max-faithful", "-1", "--max-faithful: must not be negative (got -1)")]
    [InlineData("--pooling", "max", "--pooling: unknown pooling 'max': use mean, last or mean-no-bos")]
    [InlineData("--dtype", "int8", "--dtype: unknown dtype 'int8': use auto, float32, float16 or bfloat16")]
    public async Task Bad_options(string option, string value, string expected)
    {
        using var temp = new TempFolder();
        await AssertRefused(temp, expected.Replace("{model}", TinyModel), o => Run(o, Samples.ScoresCsv, Samples.ResponsesJsonl, null, option, value));
    }

    [Fact]
    public async Task An_output_path_that_is_a_file()
    {
        using var temp = new TempFolder();
        var file = temp.File("not-a-folder", "x");
        var (exitCode, _, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, Run(file, Samples.ScoresCsv, Samples.ResponsesJsonl));
        Assert.Equal(2, exitCode);
        Assert.StartsWith($"error: {file}", stderr);
        Assert.Equal("x", File.ReadAllText(file));
    }

    static string CopyOfTinyModel(TempFolder temp, Func<string, bool>? keep = null)
    {
        var model = Directory.CreateDirectory(Path.Combine(temp.Path, "model")).FullName;
        foreach (var file in Directory.GetFiles(TinyModel).Where(f => keep?.Invoke(Path.GetFileName(f)) ?? true))
        {
            File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        }
        return model;
    }

    [Fact]
    public async Task An_empty_scores_file()
    {
        using var temp = new TempFolder();
        var scores = temp.File("scores.csv", "");
        var stderr = await AssertRefused(temp, $"{scores}…", o => Run(o, scores, Samples.ResponsesJsonl));
        Assert.Contains("empty", stderr);
    }

    [Fact]
    public async Task A_responses_line_that_is_not_an_object()
    {
        using var temp = new TempFolder();
        var lines = File.ReadAllLines(Samples.ResponsesJsonl);
        lines[1] = "[1, 2, 3]";
        var responses = temp.File("responses.jsonl", string.Join('\n', lines));
        await AssertRefused(temp, $"{responses}:2: …", o => Run(o, Samples.ScoresCsv, responses));
    }

    [Fact]
    public async Task A_field_of_the_wrong_type()
    {
        using var temp = new TempFolder();
        var lines = File.ReadAllLines(Samples.ResponsesJsonl);
        lines[0] = "{\"pair_id\": \"num_001\", \"variant\": \"q1\", \"question\": 42}";
        var responses = temp.File("responses.jsonl", string.Join('\n', lines));
        await AssertRefused(temp, $"{responses}:1: field 'question': …", o => Run(o, Samples.ScoresCsv, responses));
    }

    [Fact]
    public async Task A_missing_input_file()
    {
        using var temp = new TempFolder();
        var scores = Path.Combine(temp.Path, "nowhere.csv");
        await AssertRefused(temp, $"{scores}…", o => Run(o, scores, Samples.ResponsesJsonl));
    }

    [Fact]
    public async Task A_responses_file_that_is_not_utf8()
    {
        using var temp = new TempFolder();
        var responses = temp.Bytes("responses.jsonl", [.. "{\"pair_id\": \"num_001\", \"variant\": \"q1\", \"question\": \"caf"u8.ToArray(), 0xE9, .. "\"}\n"u8.ToArray()]);
        var stderr = await AssertRefused(temp, $"{responses}:1…", o => Run(o, Samples.ScoresCsv, responses));
        Assert.Contains("UTF-8", stderr);
    }

    [Fact]
    public async Task A_folder_given_as_the_responses_file()
    {
        using var temp = new TempFolder();
        var folder = Directory.CreateDirectory(Path.Combine(temp.Path, "responses.jsonl")).FullName;
        var stderr = await AssertRefused(temp, $"{folder}…", o => Run(o, Samples.ScoresCsv, folder));
        Assert.Contains("folder", stderr);
    }

    [Fact]
    public async Task A_model_folder_that_does_not_exist()
    {
        using var temp = new TempFolder();
        var model = Path.Combine(temp.Path, "no-model");
        await AssertRefused(temp, $"--model: '{model}' is neither an existing folder nor a Hugging Face Hub id…", o => Run(o, Samples.ScoresCsv, Samples.ResponsesJsonl, model));
    }

    [Fact]
    public async Task A_model_folder_without_a_tokenizer()
    {
        using var temp = new TempFolder();
        var model = CopyOfTinyModel(temp, name => name != "tokenizer.json");
        var stderr = await AssertRefused(temp, $"{model}…", o => Run(o, Samples.ScoresCsv, Samples.ResponsesJsonl, model));
        Assert.Contains("tokenizer", stderr);
    }

    [Fact]
    public async Task A_model_with_a_truncated_safetensors_file()
    {
        using var temp = new TempFolder();
        var model = CopyOfTinyModel(temp);
        var weights = Path.Combine(model, "model.safetensors");
        using (var stream = new FileStream(weights, FileMode.Open))
        {
            stream.SetLength(stream.Length / 2);
        }
        await AssertRefused(temp, $"{weights}: truncated safetensors file: …", o => Run(o, Samples.ScoresCsv, Samples.ResponsesJsonl, model));
    }

    [Fact]
    public async Task A_model_of_an_unsupported_architecture()
    {
        using var temp = new TempFolder();
        var model = CopyOfTinyModel(temp);
        var config = Path.Combine(model, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("Qwen2ForCausalLM", "MistralForCausalLM").Replace("\"qwen2\"", "\"mistral\""));
        var stderr = await AssertRefused(temp, $"{config}…", o => Run(o, Samples.ScoresCsv, Samples.ResponsesJsonl, model));
        Assert.Contains("unsupported architecture 'MistralForCausalLM': supported are Qwen2ForCausalLM (qwen2), LlamaForCausalLM (llama), Qwen3ForCausalLM (qwen3)", stderr);
    }

    [Fact]
    public async Task A_negative_unfaithful_cap()
    {
        using var temp = new TempFolder();
        await AssertRefused(temp, "--max-unfaithful: must not be negative (got -3)", o => Run(o, Samples.ScoresCsv, Samples.ResponsesJsonl, null, "--max-unfaithful", "-3"));
    }

    [Fact]
    public async Task An_output_path_that_cannot_be_created()
    {
        using var temp = new TempFolder();
        var file = temp.File("a-file", "x");
        var output = Path.Combine(file, "out");
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, Run(output, Samples.ScoresCsv, Samples.ResponsesJsonl));
        Assert.Equal(2, exitCode);
        Assert.StartsWith($"error: {output}", stderr.Trim());
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", stdout + stderr);
        Assert.Equal("x", File.ReadAllText(file));
    }

    static string[] Capture(string output, string prompts, params string[] extra) =>
        ["capture", "--prompts", prompts, "--model", TinyModel, "--out", output, .. extra];

    [Fact]
    public async Task Capture_a_duplicate_id()
    {
        using var temp = new TempFolder();
        var prompts = temp.File("prompts.jsonl", "{\"id\": \"a\", \"question\": \"q\"}\n{\"id\": \"a\", \"question\": \"r\"}\n");
        await AssertRefused(temp, $"{prompts}:2: field 'id': duplicate id 'a' (first on line 1, again on line 2)", o => Capture(o, prompts));
    }

    [Fact]
    public async Task Capture_a_missing_label_field_in_csv()
    {
        using var temp = new TempFolder();
        var prompts = temp.File("prompts.csv", "id,question\na,q\n");
        await AssertRefused(temp, $"{prompts}:1: field 'kind': missing column (header has: id, question)", o => Capture(o, prompts, "--label-field", "kind"));
    }

    [Fact]
    public async Task Capture_an_empty_prompt_file()
    {
        using var temp = new TempFolder();
        var prompts = temp.File("prompts.jsonl", "");
        await AssertRefused(temp, $"{prompts}:1: file is empty", o => Capture(o, prompts));
    }

    [Fact]
    public async Task A_template_without_its_placeholder()
    {
        using var temp = new TempFolder();
        var prompts = temp.File("prompts.jsonl", "{\"id\": \"a\", \"question\": \"q\"}\n");
        await AssertRefused(temp, "--prompt-template: must contain {text} once, where each text goes (got '<｜User｜>')", o => Capture(o, prompts, "--prompt-template", "<｜User｜>"));
        await AssertRefused(temp, "--prompt-template: must contain {text} once, where each text goes (got 'x')", o => Run(o, Samples.ScoresCsv, Samples.ResponsesJsonl, null, "--prompt-template", "x"));
    }
}
