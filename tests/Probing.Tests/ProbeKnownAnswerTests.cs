using System.Text.Json;
using Activations.Probing.Input;
using Activations.Probing.Output;
using Activations.Probing.Statistics;

namespace Activations.Probing.Tests;

/// <summary>Made-up activations with a known answer, through the reader, the runner and the writer.</summary>
public class ProbeKnownAnswerTests
{
    // Small enough for CI's two cores; 100 permutations so p can go below 0.01 (its floor is 1/101).
    const int Folds = 5, Repeats = 2, Permutations = 100;

    static ProbeRun Probe(string folder, int seed = 0, int permutations = Permutations)
    {
        var settings = ProbeSettings.Validate(folder, null, Folds, Repeats, permutations, seed);
        return new ProbeRunner(settings).Run(ActivationFolderReader.Read(folder, Folds));
    }

    static string PlantedFolder(double shift, int seed, out double[][] faithful, out double[][] unfaithful)
    {
        var folder = ActivationFolders.NewFolder();
        (faithful, unfaithful, _) = Synthetic.Planted(30, 15, 40, shift, seed);
        ActivationFolders.WritePt(Path.Combine(folder, "layer_12_activations.pt"), faithful, unfaithful);
        ActivationFolders.WriteManifest(folder, 30, 15);
        return folder;
    }

    [Fact]
    public void A_planted_direction_is_found()
    {
        var run = Probe(PlantedFolder(shift: 6, seed: 1, out _, out _));

        var result = Assert.Single(run.Results);
        Assert.Equal("blocks.12.hook_resid_post", result.Set.Hook);
        Assert.True(result.BalancedAccuracy > 0.95, $"balanced accuracy {result.BalancedAccuracy}");
        Assert.True(result.Auroc > 0.97, $"AUROC {result.Auroc}");
        Assert.True(result.PValue < 0.01, $"p {result.PValue}");
        Assert.Equal(1.0 / (Permutations + 1), result.PValue, 12); // no shuffle does as well
        Assert.Equal(Verdicts.LinearDirection, result.Verdict);
        Assert.Equal(Folds * Repeats, result.CrossValidation.Folds.Count);
    }

    [Fact]
    public void Pure_noise_is_no_linear_signal_even_when_plain_accuracy_looks_fine()
    {
        var run = Probe(PlantedFolder(shift: 0, seed: 2, out _, out _));

        var result = Assert.Single(run.Results);
        Assert.Equal(30.0 / 45, result.MajorityBaseline, 12); // always answering "faithful" scores 67%
        Assert.InRange(result.BalancedAccuracy, 0.35, 0.65);
        Assert.True(result.PValue > 0.05, $"p {result.PValue}");
        Assert.Equal(Verdicts.NoLinearSignal, result.Verdict);
        // The null is centred on chance: balanced accuracy, unlike accuracy, does not reward the larger class.
        Assert.InRange(result.PermutedBalancedAccuracies.Average(), 0.45, 0.55);
    }

    [Fact]
    public void The_same_seed_gives_the_same_numbers_and_another_seed_other_folds()
    {
        var folder = PlantedFolder(shift: 1.5, seed: 3, out _, out _);
        var first = Probe(folder, seed: 7, permutations: 8).Results[0];
        var second = Probe(folder, seed: 7, permutations: 8).Results[0];
        var other = Probe(folder, seed: 8, permutations: 8).Results[0];

        Assert.Equal(first.CrossValidation.Folds, second.CrossValidation.Folds);
        Assert.Equal(first.PermutedBalancedAccuracies, second.PermutedBalancedAccuracies);
        Assert.Equal(first.PValue, second.PValue);
        Assert.Equal(first.Probe.Direction, second.Probe.Direction);
        Assert.NotEqual(first.CrossValidation.Folds, other.CrossValidation.Folds);
    }

    [Fact]
    public void The_saved_direction_loads_in_torch_and_reproduces_the_probe_on_raw_rows()
    {
        var folder = PlantedFolder(shift: 3, seed: 4, out _, out _);
        var run = Probe(folder, permutations: 2);
        var outFolder = Path.Combine(folder, "probes");
        ProbeOutputWriter.Write(run with { Settings = run.Settings with { Out = outFolder } });
        var result = run.Results[0];

        var loaded = JsonSerializer.Deserialize<JsonElement>(SystemPython.Run([
            SystemPython.Script("project_rows.py"), Path.Combine(outFolder, "probe_layer_12.pt"), Path.Combine(folder, "layer_12_activations.pt")]));

        Assert.Equal(["bias", "direction"], loaded.GetProperty("keys").EnumerateArray().Select(k => k.GetString()));
        Assert.Equal([40], loaded.GetProperty("direction_shape").EnumerateArray().Select(v => v.GetInt32()));
        Assert.Empty(loaded.GetProperty("bias_shape").EnumerateArray());
        Assert.Equal("torch.float32", loaded.GetProperty("direction_dtype").GetString());
        var torchScores = loaded.GetProperty("scores").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var spread = result.Probe.Scores.Max(Math.Abs);
        for (var i = 0; i < torchScores.Length; i++)
        {
            // float32 direction and rows: agreement to 1e-4 of the scores' spread.
            Assert.True(Math.Abs(torchScores[i] - result.Probe.Scores[i]) <= 1e-4 * spread, $"row {i}: torch {torchScores[i]} vs probe {result.Probe.Scores[i]}");
        }
        // Above 0 is faithful: the refit separates these rows.
        Assert.All(torchScores.Take(30), s => Assert.True(s > 0));
        Assert.All(torchScores.Skip(30), s => Assert.True(s < 0));
    }
}
