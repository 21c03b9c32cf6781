using System.Text.Json;
using Activations.Contracts;
using Activations.Coordinator.Jobs;
using Activations.Coordinator.Store;

namespace Activations.Coordinator.Tests;

/// <summary>Hook names, --hooks/--layers parsing, the spec's one validation, and the job key.</summary>
public class CaptureSpecTests
{
    [Theory]
    [InlineData("hook_embed", HookKind.Embed, -1, "hook_embed_activations")]
    [InlineData("blocks.0.hook_resid_pre", HookKind.ResidPre, 0, "blocks.0.hook_resid_pre_activations")]
    [InlineData("blocks.3.attn.hook_z", HookKind.AttnZ, 3, "blocks.3.attn.hook_z_activations")]
    [InlineData("blocks.12.hook_attn_out", HookKind.AttnOut, 12, "blocks.12.hook_attn_out_activations")]
    [InlineData("blocks.12.hook_resid_mid", HookKind.ResidMid, 12, "blocks.12.hook_resid_mid_activations")]
    [InlineData("blocks.12.hook_mlp_out", HookKind.MlpOut, 12, "blocks.12.hook_mlp_out_activations")]
    [InlineData("blocks.24.hook_resid_post", HookKind.ResidPost, 24, "layer_24_activations")]
    public void Hook_names_read_and_write_as_transformer_lens_names_them(string name, HookKind kind, int layer, string stem)
    {
        var hook = HookPoint.Parse(name);
        Assert.Equal((kind, layer), (hook.Kind, hook.Layer));
        Assert.Equal(name, hook.Name);
        Assert.Equal(stem, hook.FileStem);
        Assert.Equal($"\"{name}\"", JsonSerializer.Serialize(hook));
        Assert.Equal(hook, JsonSerializer.Deserialize<HookPoint>($"\"{name}\""));
    }

    [Theory]
    [InlineData("blocks.3.hook_z")]
    [InlineData("blocks.3.attn_out")]
    [InlineData("blocks.+3.hook_mlp_out")]
    [InlineData("blocks. 3.hook_mlp_out")]
    [InlineData("blocks.*.hook_mlp_out")]
    [InlineData("Hook_embed")]
    [InlineData("blocks.3.hook_mlp_out ")]
    public void Anything_else_is_not_a_hook_name(string text) => Assert.False(HookPoint.TryParse(text, out _));

    [Fact]
    public void Hooks_sort_by_layer_then_in_forward_order()
    {
        string[] names = ["blocks.2.hook_resid_post", "blocks.1.hook_mlp_out", "hook_embed", "blocks.1.attn.hook_z", "blocks.1.hook_resid_pre", "blocks.10.hook_resid_pre"];
        Assert.Equal(["hook_embed", "blocks.1.hook_resid_pre", "blocks.1.attn.hook_z", "blocks.1.hook_mlp_out", "blocks.2.hook_resid_post", "blocks.10.hook_resid_pre"],
            names.Select(HookPoint.Parse).Order().Select(h => h.Name));
    }

    [Fact]
    public void Hooks_and_layers_are_a_union_star_means_every_layer_and_neither_means_6_12_18_24()
    {
        Assert.Equal(["blocks.6.hook_resid_post", "blocks.12.hook_resid_post", "blocks.18.hook_resid_post", "blocks.24.hook_resid_post"],
            HookSelection.Parse(null, null).Resolve(28, "m").Select(h => h.Name));
        Assert.Equal(["hook_embed", "blocks.0.hook_mlp_out", "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post", "blocks.2.hook_mlp_out"],
            HookSelection.Parse("blocks.*.hook_mlp_out, hook_embed,blocks.1.hook_resid_post", "1").Resolve(3, "m").Select(h => h.Name));
        // Only --hooks: no default layers added.
        Assert.Equal(["blocks.2.hook_attn_out"], HookSelection.Parse("blocks.2.hook_attn_out", null).Resolve(3, "m").Select(h => h.Name));
    }

    [Theory]
    [InlineData("blocks.3.hook_foo", null, "--hooks: unknown hook 'blocks.3.hook_foo': use hook_embed, blocks.L.hook_resid_pre, blocks.L.attn.hook_z, blocks.L.hook_attn_out, blocks.L.hook_resid_mid, blocks.L.hook_mlp_out, blocks.L.hook_resid_post (L a layer number, or *)")]
    [InlineData("hook_embed,", null, "--hooks: an empty name in 'hook_embed,': give names separated by single commas")]
    [InlineData("blocks.03x.hook_mlp_out", null, "--hooks: 'blocks.03x.hook_mlp_out': '03x' is not a layer number or *")]
    [InlineData(null, "1,-2", "--layers: layer -2 is negative")]
    [InlineData(null, "", "--layers: no layers were asked for")]
    public void A_malformed_list_is_refused_naming_the_hook(string? hooks, string? layers, string expected)
        => Assert.Equal(expected, Assert.Throws<InvalidInputException>(() => HookSelection.Parse(hooks, layers)).Message);

    [Fact]
    public void A_layer_outside_the_model_is_refused_naming_the_hook()
    {
        Assert.Equal("--hooks: blocks.3.hook_resid_mid: layer 3 is outside the model (m has layers 0..2)",
            Assert.Throws<InvalidInputException>(() => HookSelection.Parse("blocks.3.hook_resid_mid", null).Resolve(3, "m")).Message);
        Assert.Equal("--layers: layer 3 is outside the model (m has layers 0..2)",
            Assert.Throws<InvalidInputException>(() => HookSelection.Parse(null, "3").Resolve(3, "m")).Message);
    }

    static CaptureSpec Spec(params string[] hooks) => new() { Hooks = [.. hooks.Select(HookPoint.Parse)], Device = ComputeDevice.Cpu, Dtype = ComputeDtype.Float32 };

    [Fact]
    public void The_spec_is_validated_in_one_place_for_coordinator_and_worker()
    {
        var valid = Spec("hook_embed", "blocks.0.hook_resid_post");
        Assert.Same(valid, valid.Validate(1, "m"));
        Assert.Equal("--hooks: no hooks were asked for", Assert.Throws<InvalidInputException>(() => Spec().Validate(3, "m")).Message);
        Assert.Equal("--hooks: blocks.1.hook_mlp_out: hooks must be sorted and listed once",
            Assert.Throws<InvalidInputException>(() => Spec("blocks.2.hook_mlp_out", "blocks.1.hook_mlp_out").Validate(3, "m")).Message);
        Assert.Equal("--hooks: blocks.1.hook_mlp_out: hooks must be sorted and listed once",
            Assert.Throws<InvalidInputException>(() => Spec("blocks.1.hook_mlp_out", "blocks.1.hook_mlp_out").Validate(3, "m")).Message);
        Assert.Equal("--hooks: blocks.5.hook_mlp_out: layer 5 is outside the model (m has layers 0..2)",
            Assert.Throws<InvalidInputException>(() => Spec("blocks.5.hook_mlp_out").Validate(3, "m")).Message);
        Assert.Equal("--max-tokens: must be at least 1",
            Assert.Throws<InvalidInputException>(() => (Spec("hook_embed") with { MaxTokens = 0 }).Validate(3, "m")).Message);
        Assert.Equal("--pooling: unknown value 7",
            Assert.Throws<InvalidInputException>(() => (Spec("hook_embed") with { Pooling = (Pooling)7 }).Validate(3, "m")).Message);
        // A spec travels as JSON with the hooks by name, and reads back the same.
        var spec = Spec("hook_embed", "blocks.2.attn.hook_z");
        var json = JsonSerializer.Serialize(spec);
        Assert.Contains("[\"hook_embed\",\"blocks.2.attn.hook_z\"]", json);
        Assert.Equal(spec.Hooks, JsonSerializer.Deserialize<CaptureSpec>(json)!.Hooks);
        Assert.Equal(3, spec.LayersNeeded);
        Assert.Equal(0, Spec("hook_embed").LayersNeeded);
    }

    [Fact]
    public void The_job_key_holds_the_resolved_device_kind_and_dtype()
    {
        QuestionRecord[] questions = [new() { PairId = "p", Label = "faithful", Text = "q" }];
        var spec = Spec("blocks.1.hook_mlp_out");
        var key = JobKey.Compute(spec, "f", questions);
        Assert.Equal(key, JobKey.Compute(Spec("blocks.1.hook_mlp_out"), "f", questions));
        Assert.NotEqual(key, JobKey.Compute(spec with { Dtype = ComputeDtype.BFloat16 }, "f", questions));
        Assert.NotEqual(key, JobKey.Compute(spec with { Device = ComputeDevice.Cuda }, "f", questions));
        Assert.NotEqual(key, JobKey.Compute(Spec("blocks.1.hook_resid_mid"), "f", questions));
        Assert.Throws<ArgumentException>(() => JobKey.Compute(spec with { Dtype = ComputeDtype.Auto }, "f", questions));
    }
}
