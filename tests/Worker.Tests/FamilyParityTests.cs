using System.Text.Json;
using Activations.Contracts;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Activations.Worker.Model;
using Activations.Worker.Tokenization;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;

namespace Activations.Worker.Tests;

/// <summary>
/// The Llama (llama3 RoPE scaling, explicit head_dim, tied embeddings) and Qwen3 (q/k norms) fixtures against the
/// independent reference's float32 vectors (atol 1e-4): every hook point of layers 0, 3, 7 and hook_embed, both BOS
/// policies, all poolings, batched and one question at a time.
/// </summary>
public class FamilyParityTests
{
    const double Tolerance = 1e-4;

    public sealed record Family(string Name)
    {
        public string Folder => Path.Combine(Fixtures.Root, "parity", Name);
        public string Model => Path.Combine(Folder, "model");
        public JsonElement Expected => expected[Name].RootElement;
        public int[] Layers => Expected.GetProperty("layers").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        public string[] Questions => Expected.GetProperty("questions").EnumerateArray().Select(q => q.GetProperty("text").GetString()!).ToArray();
        public HookPoint[] Hooks => [.. Expected.GetProperty("hooks").EnumerateArray().Select(h => HookPoint.Parse(h.GetString()!))];

        public float[] Vector(int question, string policy, HookPoint hook, string pooling) =>
            Expected.GetProperty("questions")[question].GetProperty("pooled").GetProperty(policy).GetProperty(hook.Name).GetProperty(pooling)
                .EnumerateArray().Select(e => e.GetSingle()).ToArray();

        public override string ToString() => Name;
    }

    static readonly Dictionary<string, JsonDocument> expected = new[] { "llama", "qwen3" }
        .ToDictionary(n => n, n => JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Root, "parity", n, "expected.json"))));

    public static readonly Family Llama = new("llama");
    public static readonly Family Qwen3 = new("qwen3");

    public static TheoryData<Family, string, string> Cases()
    {
        var data = new TheoryData<Family, string, string>();
        foreach (var family in new[] { Llama, Qwen3 })
        {
            foreach (var policy in new[] { "no-bos", "bos" })
            {
                foreach (var pooling in new[] { "mean", "last", "mean-no-bos" })
                {
                    data.Add(family, policy, pooling);
                }
            }
        }
        return data;
    }

    static CaptureSpec Spec(Family family, BosPolicy policy, Pooling pooling = Pooling.Mean) =>
        Fixtures.Spec(pooling, policy, layers: family.Layers);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_hook_matches_the_reference_batched_and_one_at_a_time(Family family, string policyName, string poolingName)
    {
        Assert.True(OptionNames.TryParseBosPolicy(policyName, out var policy));
        Assert.True(OptionNames.TryParsePooling(poolingName, out var pooling));
        var hooks = family.Hooks;
        Assert.Equal(1 + 3 * 6, hooks.Length);
        var spec = Fixtures.Spec(pooling, policy, hooks: hooks);
        using var engine = Fixtures.Engine(spec, family.Model);
        var questions = family.Questions;

        var oneByOne = questions.SelectMany(q => engine.Capture([q], spec, batchSize: 1)).ToArray();
        var batched = engine.Capture(questions, spec, batchSize: questions.Length);

        var worst = new Dictionary<HookPoint, double>();
        for (var q = 0; q < questions.Length; q++)
        {
            Assert.Equal(family.Expected.GetProperty("questions")[q].GetProperty("input").GetProperty(policyName).GetArrayLength(), oneByOne[q].TokenCount);
            foreach (var hook in hooks)
            {
                var reference = family.Vector(q, policyName, hook, poolingName);
                Assert.Equal(family.Expected.GetProperty("widths").GetProperty(hook.Name).GetInt32(), oneByOne[q].Vectors![hook].Length);
                var difference = Math.Max(ParityTests.MaxDifference(reference, oneByOne[q].Vectors![hook]), ParityTests.MaxDifference(reference, batched[q].Vectors![hook]));
                worst[hook] = Math.Max(worst.GetValueOrDefault(hook), difference);
            }
        }
        var failing = worst.Where(w => w.Value > Tolerance).Select(w => $"{w.Key}: {w.Value:E2}").ToList();
        Assert.True(failing.Count == 0, $"{family}: hooks further than {Tolerance:E0} from the reference: {string.Join("; ", failing)}");
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen3")]
    public void Layer_zero_matches_the_per_token_debug_values(string name)
    {
        // debug: per-token hook_z, hook_attn_out, hook_mlp_out, hook_resid_post of layer 0, question 0, policy bos;
        // "last" pooling of a one-question batch is the last token's row.
        var family = new Family(name);
        var debug = family.Expected.GetProperty("debug");
        Assert.Equal("bos", debug.GetProperty("policy").GetString());
        var perToken = debug.GetProperty("per_token");
        var hooks = perToken.EnumerateObject().Select(p => HookPoint.Parse(p.Name)).ToArray();
        Assert.NotEmpty(hooks);
        var spec = Fixtures.Spec(Pooling.Last, BosPolicy.Bos, hooks: hooks);
        using var engine = Fixtures.Engine(spec, family.Model);
        var capture = engine.Capture([family.Questions[debug.GetProperty("question").GetInt32()]], spec, 1)[0];
        foreach (var hook in hooks)
        {
            var rows = perToken.GetProperty(hook.Name).EnumerateArray().ToArray();
            Assert.Equal(rows.Length, capture.TokenCount);
            Assert.True(ParityTests.MaxDifference(rows[^1].EnumerateArray().Select(e => e.GetSingle()).ToArray(), capture.Vectors![hook]) <= Tolerance, hook.Name);
        }
    }

    [Theory]
    [InlineData("llama", ModelFamily.Llama, 4000)]
    [InlineData("qwen3", ModelFamily.Qwen3, 4003)]
    public void The_family_and_its_bos_come_from_the_model_files(string name, ModelFamily expectedFamily, int bos)
    {
        var family = new Family(name);
        var folder = ModelFolder.Open(family.Model);
        Assert.Equal(expectedFamily, folder.Config.Family);
        // TransformerLens' default for the family is the fixture's default policy.
        Assert.Equal(family.Expected.GetProperty("default_policy").GetString(), OptionNames.Of(folder.Config.Family.DefaultBosPolicy()));
        Assert.Equal(bos, family.Expected.GetProperty("bos_id").GetInt32());
        using var tokenizer = QuestionTokenizer.Load(folder.TokenizerPath, folder.TokenizerConfigPath);
        Assert.Equal(bos, tokenizer.BosTokenId);
        foreach (var question in family.Expected.GetProperty("questions").EnumerateArray())
        {
            var text = question.GetProperty("text").GetString()!;
            Assert.Equal(question.GetProperty("input").GetProperty("bos").EnumerateArray().Select(e => e.GetInt32()), tokenizer.Encode(text, BosPolicy.Bos));
            Assert.Equal(question.GetProperty("input").GetProperty("no-bos").EnumerateArray().Select(e => e.GetInt32()), tokenizer.Encode(text, BosPolicy.NoBos));
        }
    }

    [Fact]
    public void Llama_reads_head_dim_bias_flags_tied_embeddings_and_llama3_scaling_from_its_config()
    {
        var config = ModelFolder.Open(Llama.Model).Config;
        Assert.Equal(16, config.HeadDim);
        Assert.Equal(48, config.HiddenSize);
        Assert.False(config.QkvBias);
        Assert.False(config.OutputBias);
        Assert.False(config.MlpBias);
        Assert.False(config.QkNorm);
        Assert.True(config.TieWordEmbeddings);
        Assert.Equal(new Llama3RopeScaling(8.0, 1.0, 4.0, 64), config.RopeScaling);
        var qwen3 = ModelFolder.Open(Qwen3.Model).Config;
        Assert.True(qwen3.QkNorm);
        Assert.False(qwen3.QkvBias);
        Assert.Null(qwen3.RopeScaling);
    }

    [Fact]
    public void Llama3_inverse_frequencies_equal_the_references_float32_values()
    {
        var config = ModelFolder.Open(Llama.Model).Config;
        using var rotary = new RotaryEmbedding(config, torch.ScalarType.Float32);
        var rope = Llama.Expected.GetProperty("rope");
        Assert.Equal(rope.GetProperty("inv_freq").EnumerateArray().Select(e => e.GetSingle()), rotary.InverseFrequencies);
        Assert.Equal(1.0, rotary.AttentionScaling);
        using var unscaled = new RotaryEmbedding(config with { RopeScaling = null }, torch.ScalarType.Float32);
        Assert.Equal(rope.GetProperty("inv_freq_unscaled").EnumerateArray().Select(e => e.GetSingle()), unscaled.InverseFrequencies);
    }

    /// <summary>The model built from the fixture's weights with one config difference, in an engine.</summary>
    static ActivationEngine EngineWith(Family family, Func<DecoderConfig, DecoderConfig> change)
    {
        var folder = ModelFolder.Open(family.Model);
        var weights = new SafetensorsWeightSource(folder, torch.ScalarType.Float32, torch.CPU);
        var model = DecoderModel.Build(change(folder.Config), weights, family.Layers.Max() + 1);
        return ActivationEngine.FromModel(model, QuestionTokenizer.Load(folder.TokenizerPath, folder.TokenizerConfigPath), weights.BytesLoaded, NullLogger.Instance);
    }

    static double WorstOverQuestions(Family family, ActivationEngine engine)
    {
        var spec = Fixtures.Spec(Pooling.Mean, BosPolicy.Bos, hooks: family.Hooks);
        var captures = engine.Capture(family.Questions, spec, batchSize: 4);
        var worst = 0.0;
        for (var q = 0; q < captures.Count; q++)
        {
            foreach (var hook in family.Hooks)
            {
                worst = Math.Max(worst, ParityTests.MaxDifference(family.Vector(q, "bos", hook, "mean"), captures[q].Vectors![hook]));
            }
        }
        return worst;
    }

    [Fact]
    public void Ignoring_the_llama3_rope_scaling_misses_the_reference()
    {
        using (var faithful = EngineWith(Llama, c => c))
        {
            var faithfulWorst = WorstOverQuestions(Llama, faithful);
            Assert.True(faithfulWorst <= Tolerance, $"faithful {faithfulWorst:E2}");
        }
        using var unscaled = EngineWith(Llama, c => c with { RopeScaling = null });
        var worst = WorstOverQuestions(Llama, unscaled);
        Assert.True(worst > 10 * Tolerance, $"unscaled {worst:E2}");
    }

    [Fact]
    public void Skipping_the_qwen3_q_and_k_norms_misses_the_reference()
    {
        using (var faithful = EngineWith(Qwen3, c => c))
        {
            var faithfulWorst = WorstOverQuestions(Qwen3, faithful);
            Assert.True(faithfulWorst <= Tolerance, $"faithful {faithfulWorst:E2}");
        }
        using var withoutNorms = EngineWith(Qwen3, c => c with { QkNorm = false });
        var worst = WorstOverQuestions(Qwen3, withoutNorms);
        Assert.True(worst > 10 * Tolerance, $"without q/k norms {worst:E2}");
    }

    [Fact]
    public void The_config_bos_token_id_is_not_the_bos()
    {
        // Qwen3's config.json says bos_token_id 4000 (the end-of-sentence token); the tokenizer's BOS is 4003.
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(Qwen3.Model, "config.json")));
        Assert.Equal(4000, config.RootElement.GetProperty("bos_token_id").GetInt32());
        using var engine = Fixtures.Engine(Spec(Qwen3, BosPolicy.Bos), Qwen3.Model);
        Assert.Equal(4003, engine.Tokenize("Hi", BosPolicy.Bos)[0]);
    }
}
