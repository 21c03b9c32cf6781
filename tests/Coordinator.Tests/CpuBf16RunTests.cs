using System.Text.Json;
using Activations.Coordinator.Assembly;

namespace Activations.Coordinator.Tests;

/// <summary>`run --dtype bfloat16` on a CPU without native bf16 (forced with ACTIVATIONS_CPU_BF16=off): float32, said once, recorded.</summary>
public class CpuBf16RunTests
{
    static string[] Run(string output, string dtype) =>
        ["run", "--scores", Samples.ScoresCsv, "--responses", Samples.ResponsesJsonl, "--model", EngineReference.TinyModel, "--out", output, "--dtype", dtype];

    [Fact]
    public async Task Bf16_without_native_bf16_computes_float32_with_one_warning_and_the_manifest_records_float32()
    {
        using var temp = new TempFolder();
        var emulated = new Dictionary<string, string?> { ["ACTIVATIONS_CPU_BF16"] = "off" };
        var bf16 = await CliProcess.RunAsync(CliProcess.Coordinator, Run(Path.Combine(temp.Path, "bf16"), "bfloat16"), environment: emulated);
        Assert.True(bf16.ExitCode == 0, bf16.Error);
        var warnings = (bf16.Output + bf16.Error).Split('\n').Where(l => l.Contains("bf16 was asked for")).ToList();
        var warning = Assert.Single(warnings);
        Assert.Contains("has no native bf16 (ACTIVATIONS_CPU_BF16=off): computing in float32 instead", warning);
        using (var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(temp.Path, "bf16", ManifestFile.FileName))))
        {
            Assert.Equal("float32", manifest.RootElement.GetProperty("compute_dtype").GetString());
        }

        // The same job asked in float32 gives the same vectors: nothing was computed in bf16, which would differ by
        // about 1e-3. Not bit for bit: the embedded worker's batches depend on message timing, and another batch
        // (other padded lengths, other matmul blocking) moves float32 results by about 1e-8.
        var float32 = await CliProcess.RunAsync(CliProcess.Coordinator, Run(Path.Combine(temp.Path, "float32"), "float32"), environment: emulated);
        Assert.True(float32.ExitCode == 0, float32.Error);
        Assert.DoesNotContain("bf16 was asked for", float32.Output + float32.Error);
        var (f32, u32) = ActivationFileWriter.ReadLayer(Path.Combine(temp.Path, "float32", ActivationFileWriter.FileNameFor(12)));
        var (f16, u16) = ActivationFileWriter.ReadLayer(Path.Combine(temp.Path, "bf16", ActivationFileWriter.FileNameFor(12)));
        using (f32)
        using (u32)
        using (f16)
        using (u16)
        {
            Assert.InRange((f32 - f16).abs().max().item<float>(), 0f, 1e-6f);
            Assert.InRange((u32 - u16).abs().max().item<float>(), 0f, 1e-6f);
        }
    }

    [Fact]
    public async Task An_unknown_override_is_one_line_naming_the_variable_exit_2_and_nothing_written()
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "out");
        var (exitCode, _, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, Run(output, "bfloat16"),
            environment: new Dictionary<string, string?> { ["ACTIVATIONS_CPU_BF16"] = "maybe" });
        Assert.Equal(2, exitCode);
        Assert.Equal("error: ACTIVATIONS_CPU_BF16: unknown value 'maybe': use auto, on or off", stderr.Trim());
        Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any());
    }
}
