using System.Text.Json.Nodes;
using Activations.Contracts;
using Activations.Worker.Model;
using TorchSharp;

namespace Activations.Worker.Tests;

/// <summary>
/// yarn RoPE scaling (which no parity fixture covers) against values worked out independently from the formula of
/// Hugging Face's _compute_yarn_parameters: tests/tools/yarn_reference.py, run with /usr/bin/python3 (PyTorch 1.13),
/// printed the float32 inverse frequencies and the attention factors below.
/// </summary>
public class RopeTests
{
    static DecoderConfig Small(int maxPositions, RopeScaling scaling, int headDim = 16, double theta = 10000) => new()
    {
        Family = ModelFamily.Qwen3,
        HiddenSize = 64,
        IntermediateSize = 128,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        ExplicitHeadDim = headDim,
        VocabSize = 16,
        RopeTheta = theta,
        MaxPositionEmbeddings = maxPositions,
        RopeScaling = scaling,
    };

    static void AssertClose(double[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6 * Math.Abs(expected[i]), $"inv_freq[{i}]: expected {expected[i]:G9}, got {actual[i]:G9}");
        }
    }

    static readonly double[] RampOverDims0To3 = [1.0, 0.237170815, 0.049999997, 0.00790569466, 0.00249999994, 0.000790569466, 0.000250000012, 7.90569466e-05];

    [Fact]
    public void Yarn_with_the_default_betas_matches_the_reference()
    {
        // factor 4, original 64 of 256 positions: correction range [0, 3] (beta_fast 32, beta_slow 1).
        using var rotary = new RotaryEmbedding(Small(256, new YarnRopeScaling { Factor = 4, OriginalMaxPositionEmbeddings = 64 }), torch.ScalarType.Float32);
        AssertClose(RampOverDims0To3, rotary.InverseFrequencies);
        Assert.Equal(1.138629436111989, rotary.AttentionScaling, 12); // 0.1 ln 4 + 1
    }

    [Fact]
    public void Yarn_without_original_max_positions_uses_max_position_embeddings_and_given_betas()
    {
        using var rotary = new RotaryEmbedding(Small(64, new YarnRopeScaling { Factor = 4, BetaFast = 8, BetaSlow = 2 }), torch.ScalarType.Float32);
        AssertClose([1.0, 0.197642356, 0.0250000004, 0.00790569466, 0.00249999994, 0.000790569466, 0.000250000012, 7.90569466e-05], rotary.InverseFrequencies);
        Assert.Equal(1.138629436111989, rotary.AttentionScaling, 12);
    }

    [Fact]
    public void Yarn_attention_factor_follows_mscale_and_mscale_all_dim_or_the_configs_own()
    {
        using var mscaled = new RotaryEmbedding(Small(256, new YarnRopeScaling { Factor = 4, OriginalMaxPositionEmbeddings = 64, Mscale = 0.707, MscaleAllDim = 1.0 }), torch.ScalarType.Float32);
        AssertClose(RampOverDims0To3, mscaled.InverseFrequencies);
        Assert.Equal(0.964326914892074, mscaled.AttentionScaling, 12);
        using var given = new RotaryEmbedding(Small(256, new YarnRopeScaling { Factor = 4, OriginalMaxPositionEmbeddings = 64, AttentionFactor = 0.5 }), torch.ScalarType.Float32);
        Assert.Equal(0.5, given.AttentionScaling);
    }

    [Fact]
    public void Yarn_without_truncation_ramps_over_the_fractional_range()
    {
        using var rotary = new RotaryEmbedding(Small(256, new YarnRopeScaling { Factor = 4, OriginalMaxPositionEmbeddings = 64, Truncate = false }), torch.ScalarType.Float32);
        AssertClose([1.0, 0.198583528, 0.0255952496, 0.00790569466, 0.00249999994, 0.000790569466, 0.000250000012, 7.90569466e-05], rotary.InverseFrequencies);
    }

    [Fact]
    public void Yarn_at_the_shapes_of_R1_0528_Qwen3_8B_matches_the_reference()
    {
        // head_dim 128, theta 1e6, factor 4, original 32768: correction range [23, 40].
        using var rotary = new RotaryEmbedding(DecoderConfig.DeepSeekR1_0528Qwen3_8B, torch.ScalarType.Float32);
        var inv = rotary.InverseFrequencies;
        Assert.Equal(64, inv.Length);
        AssertClose([1.0, 0.00865964312, 0.00697830599, 0.00537532149, 0.00106436096, 4.44569851e-05, 3.58253164e-05, 3.10234441e-07],
            [inv[0], inv[22], inv[23], inv[24], inv[30], inv[40], inv[41], inv[63]]);
        Assert.Equal(1.138629436111989, rotary.AttentionScaling, 12);
    }

    [Fact]
    public void Yarn_scales_cos_and_sin_by_the_attention_factor()
    {
        using var rotary = new RotaryEmbedding(Small(256, new YarnRopeScaling { Factor = 4, OriginalMaxPositionEmbeddings = 64 }), torch.ScalarType.Float32);
        var (cos, sin) = rotary.ForLength(3, torch.CPU);
        Assert.Equal(1.138629436111989, cos[0, 0].item<float>(), 6); // cos(0) * factor
        Assert.Equal(0.0, sin[0, 0].item<float>());
        Assert.Equal(Math.Sin(2.0) * 1.138629436111989, sin[2, 0].item<float>(), 6);
    }

    static string WriteConfig(Fixtures.TempFolder folder, Action<JsonObject> change)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(FamilyParityTests.Qwen3.Model, "config.json")))!.AsObject();
        change(config);
        var path = folder.File("config.json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    [Fact]
    public void A_yarn_config_is_read_with_its_fields_and_hf_defaults()
    {
        using var folder = new Fixtures.TempFolder();
        var path = WriteConfig(folder, c => c["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0, ["original_max_position_embeddings"] = 32768, ["attn_factor"] = 0.8782488562869419 });
        var scaling = Assert.IsType<YarnRopeScaling>(DecoderConfig.Load(path).RopeScaling);
        Assert.Equal(4.0, scaling.Factor);
        Assert.Equal(32768, scaling.OriginalMaxPositionEmbeddings);
        Assert.Null(scaling.BetaFast);
        Assert.True(scaling.Truncate);
        // DeepSeek-R1-0528-Qwen3-8B's "attn_factor" is not a key HF reads (it reads attention_factor): named, not used.
        Assert.Null(scaling.AttentionFactor);
        Assert.Equal(["attn_factor"], scaling.UnrecognizedKeys);
    }

    [Theory]
    [InlineData("dynamic")]
    [InlineData("linear")]
    [InlineData("longrope")]
    public void Other_rope_scaling_types_are_refused_by_name(string type)
    {
        using var folder = new Fixtures.TempFolder();
        var path = WriteConfig(folder, c => c["rope_scaling"] = new JsonObject { ["rope_type"] = type, ["factor"] = 2.0 });
        var error = Assert.Throws<InvalidInputException>(() => DecoderConfig.Load(path));
        Assert.Equal($"{path}: field 'rope_scaling.rope_type': unsupported RoPE scaling type '{type}': supported are llama3, yarn (or none / default)", error.Message);
    }

    [Fact]
    public void The_old_type_key_and_default_are_understood()
    {
        using var folder = new Fixtures.TempFolder();
        var path = WriteConfig(folder, c => c["rope_scaling"] = new JsonObject { ["type"] = "yarn", ["factor"] = 2.0 });
        Assert.IsType<YarnRopeScaling>(DecoderConfig.Load(path).RopeScaling);
        path = WriteConfig(folder, c => c["rope_scaling"] = new JsonObject { ["rope_type"] = "default" });
        Assert.Null(DecoderConfig.Load(path).RopeScaling);
    }

    [Fact]
    public void Sliding_window_attention_is_refused_not_ignored()
    {
        using var folder = new Fixtures.TempFolder();
        var path = WriteConfig(folder, c => c["use_sliding_window"] = true);
        Assert.Equal($"{path}: field 'use_sliding_window': sliding-window attention is not supported", Assert.Throws<InvalidInputException>(() => DecoderConfig.Load(path)).Message);
    }

    [Fact]
    public void An_unsupported_architecture_is_refused_with_the_supported_list()
    {
        using var folder = new Fixtures.TempFolder();
        var path = WriteConfig(folder, c =>
        {
            c["architectures"] = new JsonArray("MistralForCausalLM");
            c["model_type"] = "mistral";
        });
        var error = Assert.Throws<InvalidInputException>(() => DecoderConfig.Load(path));
        Assert.Equal($"{path}: field 'architectures': unsupported architecture 'MistralForCausalLM': supported are Qwen2ForCausalLM (qwen2), LlamaForCausalLM (llama), Qwen3ForCausalLM (qwen3)", error.Message);
    }
}
