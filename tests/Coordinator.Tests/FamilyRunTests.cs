using Activations.Contracts;
using Activations.Coordinator.Assembly;

namespace Activations.Coordinator.Tests;

/// <summary>`run` on the Llama and Qwen3 fixtures: the family chosen from config.json, its BOS default, the overrides.</summary>
public class FamilyRunTests
{
    static string FamilyModel(string family) => Path.Combine(AppContext.BaseDirectory, "fixtures", "parity", family, "model");

    static string[] Run(string model, string output, params string[] extra) =>
        ["run", "--scores", Samples.ScoresCsv, "--responses", Samples.ResponsesJsonl, "--model", model, "--out", output, "--layers", "3,7", .. extra];

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen3")]
    public async Task The_family_default_bos_is_used_and_recorded_and_no_prepend_bos_overrides_it(string family)
    {
        using var temp = new TempFolder();
        var model = FamilyModel(family);
        var output = Path.Combine(temp.Path, "default");
        var run = await CliProcess.RunAsync(CliProcess.Coordinator, Run(model, output));
        Assert.True(run.ExitCode == 0, run.Error);
        var manifest = EngineReference.AssertFilesMatchEngine(output, Samples.ResponsesJsonl, model, [HookPoint.ResidPost(3), HookPoint.ResidPost(7)], Pooling.Mean, BosPolicy.Bos);
        Assert.Equal("bos", manifest.BosPolicy);

        var overridden = Path.Combine(temp.Path, "no-bos");
        run = await CliProcess.RunAsync(CliProcess.Coordinator, Run(model, overridden, "--no-prepend-bos"));
        Assert.True(run.ExitCode == 0, run.Error);
        manifest = EngineReference.AssertFilesMatchEngine(overridden, Samples.ResponsesJsonl, model, [HookPoint.ResidPost(3), HookPoint.ResidPost(7)], Pooling.Mean, BosPolicy.NoBos);
        Assert.Equal("no-bos", manifest.BosPolicy);
    }

    [Fact]
    public async Task Prepend_bos_and_no_prepend_bos_together_are_refused()
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "out");
        var run = await CliProcess.RunAsync(CliProcess.Coordinator, Run(FamilyModel("llama"), output, "--prepend-bos", "--no-prepend-bos"));
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("error: --prepend-bos: --prepend-bos and --no-prepend-bos contradict each other: give one", run.Error.Trim());
        Assert.False(File.Exists(Path.Combine(output, ManifestFile.FileName)));
    }
}
