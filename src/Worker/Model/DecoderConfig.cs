using System.Text.Json;
using Activations.Contracts;

namespace Activations.Worker.Model;

/// <summary>
/// The parts of a Hugging Face config.json that the forward pass of a Qwen2, Llama or Qwen3 decoder depends on.
/// The family decides the fixed differences (which projections have biases, q/k norms); the file the rest.
/// </summary>
public sealed record DecoderConfig
{
    public ModelFamily Family { get; init; } = ModelFamily.Qwen2;
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public required int VocabSize { get; init; }
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000;
    public int MaxPositionEmbeddings { get; init; } = 32768;
    public bool TieWordEmbeddings { get; init; }

    /// <summary>config.json's head_dim; null: hidden_size / num_attention_heads (HF's getattr default).</summary>
    public int? ExplicitHeadDim { get; init; }

    /// <summary>q_proj, k_proj and v_proj have biases (always for Qwen2; attention_bias for Llama and Qwen3).</summary>
    public bool QkvBias { get; init; } = true;

    /// <summary>o_proj has a bias (never for Qwen2; attention_bias for Llama and Qwen3).</summary>
    public bool OutputBias { get; init; }

    /// <summary>gate_proj, up_proj and down_proj have biases (Llama's mlp_bias).</summary>
    public bool MlpBias { get; init; }

    /// <summary>Qwen3's per-head RMSNorm of queries and keys (q_norm, k_norm) before RoPE.</summary>
    public bool QkNorm { get; init; }

    /// <summary>config.json's rope_scaling; null: plain RoPE.</summary>
    public RopeScaling? RopeScaling { get; init; }

    public int HeadDim => ExplicitHeadDim ?? HiddenSize / NumAttentionHeads;

    /// <summary>DeepSeek-R1-Distill-Qwen-1.5B, for benchmarks that need the real shapes without the weights.</summary>
    public static DecoderConfig DeepSeekR1DistillQwen1_5B { get; } = new()
    {
        HiddenSize = 1536,
        IntermediateSize = 8960,
        NumHiddenLayers = 28,
        NumAttentionHeads = 12,
        NumKeyValueHeads = 2,
        VocabSize = 151936,
        RmsNormEps = 1e-6,
        RopeTheta = 10000,
        MaxPositionEmbeddings = 131072,
        TieWordEmbeddings = false,
    };

    /// <summary>DeepSeek-R1-Distill-Llama-8B (Llama 3.1 8B shapes, llama3 RoPE scaling).</summary>
    public static DecoderConfig DeepSeekR1DistillLlama8B { get; } = new()
    {
        Family = ModelFamily.Llama,
        HiddenSize = 4096,
        IntermediateSize = 14336,
        NumHiddenLayers = 32,
        NumAttentionHeads = 32,
        NumKeyValueHeads = 8,
        VocabSize = 128256,
        RmsNormEps = 1e-5,
        RopeTheta = 500000,
        MaxPositionEmbeddings = 131072,
        QkvBias = false,
        RopeScaling = new Llama3RopeScaling(8.0, 1.0, 4.0, 8192),
    };

    /// <summary>DeepSeek-R1-0528-Qwen3-8B (Qwen3 8B shapes, yarn RoPE scaling).</summary>
    public static DecoderConfig DeepSeekR1_0528Qwen3_8B { get; } = new()
    {
        Family = ModelFamily.Qwen3,
        HiddenSize = 4096,
        IntermediateSize = 12288,
        NumHiddenLayers = 36,
        NumAttentionHeads = 32,
        NumKeyValueHeads = 8,
        ExplicitHeadDim = 128,
        VocabSize = 151936,
        RmsNormEps = 1e-6,
        RopeTheta = 1000000,
        MaxPositionEmbeddings = 131072,
        QkvBias = false,
        QkNorm = true,
        RopeScaling = new YarnRopeScaling { Factor = 4.0, OriginalMaxPositionEmbeddings = 32768 },
    };

    /// <summary>Parameters of one decoder layer (norms, attention, MLP), for memory planning before anything is read.</summary>
    public long LayerParameterCount
    {
        get
        {
            long hidden = HiddenSize, q = (long)NumAttentionHeads * HeadDim, kv = (long)NumKeyValueHeads * HeadDim, inter = IntermediateSize;
            var attention = hidden * q + 2 * hidden * kv + q * hidden + (QkvBias ? q + 2 * kv : 0) + (OutputBias ? hidden : 0) + (QkNorm ? 2L * HeadDim : 0);
            var mlp = 3 * hidden * inter + (MlpBias ? 2 * inter + hidden : 0);
            return 2 * hidden + attention + mlp;
        }
    }

    /// <summary>Parameters of the token embedding.</summary>
    public long EmbeddingParameterCount => (long)VocabSize * HiddenSize;

    public static DecoderConfig Load(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidInputException(path, $"not valid JSON: {e.Message}", (int?)e.LineNumber + 1);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidInputException(path, "expected a JSON object");
            }
            var family = FamilyOf(root, path);
            if (root.TryGetProperty("hidden_act", out var act) && act.GetString() != "silu")
            {
                throw new InvalidInputException(path, $"unsupported activation '{act.GetString()}': {family.ArchitectureOf()} uses silu", field: "hidden_act");
            }
            if (OptionalBool(root, "use_sliding_window", path) == true)
            {
                // HF's Qwen2/Qwen3 then mask keys beyond sliding_window in the upper layers; this engine attends to all.
                throw new InvalidInputException(path, "sliding-window attention is not supported", field: "use_sliding_window");
            }
            // transformers 5 writes rope_parameters (rope_type and rope_theta together) instead of rope_scaling.
            var ropeField = root.TryGetProperty("rope_parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object ? "rope_parameters" : "rope_scaling";
            var ropeTheta = OptionalDouble(root, "rope_theta", path)
                ?? (ropeField == "rope_parameters" ? OptionalDouble(parameters, "rope_theta", path, $"rope_parameters.rope_theta") : null)
                ?? 10000;
            var attentionBias = OptionalBool(root, "attention_bias", path) ?? false;
            var config = new DecoderConfig
            {
                Family = family,
                HiddenSize = RequiredInt(root, "hidden_size", path),
                IntermediateSize = RequiredInt(root, "intermediate_size", path),
                NumHiddenLayers = RequiredInt(root, "num_hidden_layers", path),
                NumAttentionHeads = RequiredInt(root, "num_attention_heads", path),
                NumKeyValueHeads = IsSet(root, "num_key_value_heads") ? RequiredInt(root, "num_key_value_heads", path) : RequiredInt(root, "num_attention_heads", path),
                VocabSize = RequiredInt(root, "vocab_size", path),
                ExplicitHeadDim = IsSet(root, "head_dim") ? RequiredInt(root, "head_dim", path) : null,
                RmsNormEps = OptionalDouble(root, "rms_norm_eps", path) ?? 1e-6,
                RopeTheta = ropeTheta,
                MaxPositionEmbeddings = IsSet(root, "max_position_embeddings") ? RequiredInt(root, "max_position_embeddings", path) : 32768,
                TieWordEmbeddings = OptionalBool(root, "tie_word_embeddings", path) ?? false,
                QkvBias = family == ModelFamily.Qwen2 || attentionBias,
                OutputBias = family != ModelFamily.Qwen2 && attentionBias,
                MlpBias = family == ModelFamily.Llama && (OptionalBool(root, "mlp_bias", path) ?? false),
                QkNorm = family == ModelFamily.Qwen3,
                RopeScaling = root.TryGetProperty(ropeField, out var scaling) ? Activations.Worker.Model.RopeScaling.Parse(scaling, path, ropeField) : null,
            };
            if (config.ExplicitHeadDim is null && config.HiddenSize % config.NumAttentionHeads != 0)
            {
                throw new InvalidInputException(path, "hidden_size must divide into num_attention_heads (or head_dim must be given)", field: "num_attention_heads");
            }
            if (config.NumAttentionHeads % config.NumKeyValueHeads != 0)
            {
                throw new InvalidInputException(path, "num_attention_heads must divide into num_key_value_heads", field: "num_key_value_heads");
            }
            if (config.HeadDim % 2 != 0)
            {
                throw new InvalidInputException(path, "head_dim must be even for rotary embeddings", field: config.ExplicitHeadDim is null ? "hidden_size" : "head_dim");
            }
            return config;
        }
    }

    /// <summary>The family named by architectures (or, without it, model_type); anything else is refused with the supported list.</summary>
    static ModelFamily FamilyOf(JsonElement root, string path)
    {
        var architectures = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() ?? "" : "").ToArray()
            : [];
        var modelType = root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
        foreach (var (family, architecture, type) in ModelFamilies.Supported)
        {
            if (architectures.Contains(architecture) || (architectures.Length == 0 && modelType == type))
            {
                return family;
            }
        }
        var found = architectures.Length > 0 ? string.Join(", ", architectures) : modelType ?? "none";
        throw new InvalidInputException(path, $"unsupported architecture '{found}': supported are {ModelFamilies.SupportedList}", field: architectures.Length > 0 ? "architectures" : "model_type");
    }

    static bool IsSet(JsonElement root, string name) => root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    static int RequiredInt(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var result) || result <= 0)
        {
            throw new InvalidInputException(path, "missing or not a positive integer", field: name);
        }
        return result;
    }

    internal static double? OptionalDouble(JsonElement root, string name, string path, string? field = null)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number || value.GetDouble() <= 0)
        {
            throw new InvalidInputException(path, "not a positive number", field: field ?? name);
        }
        return value.GetDouble();
    }

    internal static bool? OptionalBool(JsonElement root, string name, string path, string? field = null)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidInputException(path, "not true or false", field: field ?? name),
        };
    }
}
