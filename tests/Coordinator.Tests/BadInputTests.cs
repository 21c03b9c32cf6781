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
}
