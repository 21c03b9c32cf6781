using Activations.Contracts;
using Activations.Probing.Input;

namespace Activations.Probing.Tests;

public class ReaderTests
{
    [Fact]
    public void Pt_and_safetensors_hold_the_same_rows_and_a_hook_written_twice_is_read_once()
    {
        var folder = ActivationFolders.NewFolder();
        var (f, u, _) = Synthetic.Planted(6, 5, 4, shift: 1, seed: 41);
        ActivationFolders.WritePt(Path.Combine(folder, "layer_7_activations.pt"), f, u);
        ActivationFolders.WriteSafetensors(Path.Combine(folder, "layer_7_activations.safetensors"), f, u);
        ActivationFolders.WriteSafetensors(Path.Combine(folder, "hook_embed_activations.safetensors"), f, u);

        var read = ActivationFolderReader.Read(folder, minimumPerClass: 3);

        Assert.Equal(["hook_embed", "blocks.7.hook_resid_post"], read.Sets.Select(s => s.Hook));
        Assert.Equal(["layer_7_activations.safetensors"], read.Skipped);
        var expected = f.Concat(u).SelectMany(r => r.Select(v => (double)(float)v)).ToArray();
        Assert.Equal(expected, read.Sets[0].Rows);
        Assert.Equal(expected, read.Sets[1].Rows);
        Assert.Equal((6, 5, 4), (read.Sets[1].Faithful, read.Sets[1].Unfaithful, read.Sets[1].Width));
        Assert.Null(read.Run.Model); // no manifest: allowed, the report says so
    }

    [Fact]
    public void The_manifest_names_the_hooks_where_it_can()
    {
        var folder = ActivationFolders.NewFolder();
        var (f, u, _) = Synthetic.Planted(6, 5, 4, shift: 1, seed: 42);
        ActivationFolders.WritePt(Path.Combine(folder, "attn5_activations.pt"), f, u);
        ActivationFolders.WritePt(Path.Combine(folder, "layer_2_activations.pt"), f, u);
        ActivationFolders.WriteManifest(folder, 6, 5, hooks: new object[]
        {
            new { name = "blocks.5.hook_attn_out", files = new[] { "attn5_activations.pt" }, width = 4 },
            new { name = "blocks.2.hook_resid_post", width = 4 },
        });

        var read = ActivationFolderReader.Read(folder, minimumPerClass: 3);

        Assert.Equal(["blocks.2.hook_resid_post", "blocks.5.hook_attn_out"], read.Sets.Select(s => s.Hook));
        Assert.Equal(("test/planted", "mean", 6, 5), (read.Run.Model, read.Run.Pooling, read.Run.Faithful, read.Run.Unfaithful));
    }

    [Fact]
    public void A_missing_folder_is_bad_input()
    {
        var missing = Path.Combine(Path.GetTempPath(), "probe-tests", "no-such-folder-" + Guid.NewGuid().ToString("N"));
        var error = Assert.Throws<InvalidInputException>(() => ActivationFolderReader.Read(missing, 5));
        Assert.Equal(missing, error.File);
    }

    [Fact]
    public void Holm_adjusts_step_down_and_stays_monotone()
    {
        Assert.Equal([0.04, 0.06, 0.06, 0.5], ProbeRunner.Holm([0.01, 0.02, 0.03, 0.5]).Select(p => Math.Round(p, 12)));
        Assert.Equal([0.6, 0.04], ProbeRunner.Holm([0.6, 0.02]).Select(p => Math.Round(p, 12)));
    }
}
