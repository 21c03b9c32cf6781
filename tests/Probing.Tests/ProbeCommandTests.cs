using System.Diagnostics;
using Activations.Probing.Output;

namespace Activations.Probing.Tests;

/// <summary>The coordinator's `probe` command as a real process.</summary>
public class ProbeCommandTests
{
    static (int ExitCode, string Output, string Error) Coordinator(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Activations.Coordinator.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("coordinator probe ran over 3 minutes");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    [Fact]
    public void Probe_writes_json_report_and_directions_and_prints_one_line_per_hook()
    {
        var folder = ActivationFolders.NewFolder();
        var (f, u, _) = Synthetic.Planted(12, 8, 24, shift: 5, seed: 21);
        ActivationFolders.WritePt(Path.Combine(folder, "layer_3_activations.pt"), f, u);
        var (f2, u2, _) = Synthetic.Planted(12, 8, 24, shift: 0, seed: 22);
        ActivationFolders.WriteSafetensors(Path.Combine(folder, "blocks.1.hook_mlp_out_activations.safetensors"), f2, u2);
        ActivationFolders.WriteManifest(folder, 12, 8, hooks: new[] { "blocks.3.hook_resid_post", "blocks.1.hook_mlp_out" });

        var (exit, output, error) = Coordinator("probe", "--activations", folder, "--folds", "4", "--repeats", "2", "--permutations", "20", "--seed", "5");

        Assert.True(exit == 0, error);
        var outFolder = Path.Combine(folder, "probes");
        Assert.Equal(
            new[] { "probe_blocks.1.hook_mlp_out.pt", "probe_layer_3.pt", "probes.json", "report.html" },
            Directory.GetFiles(outFolder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var json = ProbesJson.Read(Path.Combine(outFolder, "probes.json"));
        Assert.Equal((5, 4, 2, 20), (json.Seed, json.Folds, json.Repeats, json.Permutations));
        // Layer order: layer 1's MLP output before layer 3's residual stream.
        Assert.Equal(new[] { "blocks.1.hook_mlp_out", "blocks.3.hook_resid_post" }, json.Results.Select(r => r.Hook));
        Assert.Equal(new[] { "blocks.1.hook_mlp_out_activations.safetensors", "layer_3_activations.pt" }, json.Results.Select(r => r.File));
        Assert.All(json.Results, r => Assert.Equal((12, 8, 24), (r.NFaithful, r.NUnfaithful, r.DModel)));
        // The planted hook beats every shuffle, but 20 permutations cannot give p below 1/21: a weak signal, not more.
        Assert.Equal(1.0 / 21, json.Results[1].PValue, 12);
        Assert.Equal("weak signal", json.Results[1].Verdict);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("blocks.1.hook_mlp_out: balanced accuracy", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("blocks.3.hook_resid_post: balanced accuracy", StringComparison.Ordinal));
        Assert.Contains("permutation 20/20", error); // progress goes to stderr
    }

    [Fact]
    public void Help_states_the_verdict_thresholds()
    {
        var (exit, output, _) = Coordinator("probe", "--help");
        Assert.Equal(0, exit);
        Assert.Contains("balanced accuracy >= 0.70 and p < 0.01", output.ReplaceLineEndings(" ").Replace("  ", " "));
    }

    public static TheoryData<string, string> BadFolders => new()
    {
        { "empty", "no activation files here" },
        { "one-class", "has no 'unfaithful' tensor" },
        { "few-rows", "fewer than --folds (5)" },
        { "non-finite", "non-finite value" },
        { "bad-manifest", "is not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(BadFolders))]
    public void Bad_input_exits_2_with_one_line_naming_the_file_and_writes_nothing(string kind, string expected)
    {
        var folder = ActivationFolders.NewFolder();
        var (f, u, _) = Synthetic.Planted(12, 8, 6, shift: 1, seed: 9);
        var file = Path.Combine(folder, "layer_2_activations.pt");
        switch (kind)
        {
            case "empty":
                file = folder;
                break;
            case "one-class":
                ActivationFolders.WritePt(file, f, []);
                break;
            case "few-rows":
                ActivationFolders.WritePt(file, f, u.Take(4).ToArray());
                break;
            case "non-finite":
                u[3][2] = double.NaN;
                ActivationFolders.WritePt(file, f, u);
                break;
            case "bad-manifest":
                ActivationFolders.WritePt(file, f, u);
                file = Path.Combine(folder, "manifest.json");
                File.WriteAllText(file, "{\"model\": ");
                break;
        }
        var before = Directory.GetFileSystemEntries(folder).Order().ToArray();

        var (exit, output, error) = Coordinator("probe", "--activations", folder, "--permutations", "5");

        Assert.Equal(2, exit);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: {file}", line);
        Assert.Contains(expected, line);
        Assert.Equal("", output);
        Assert.Equal(before, Directory.GetFileSystemEntries(folder).Order().ToArray());
    }
}
