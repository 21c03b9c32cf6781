using System.Text.Json;
using Activations.Contracts;

namespace Activations.Worker.Model;

/// <summary>The parts of a Hugging Face Qwen2 config.json that the forward pass depends on.</summary>
public sealed record Qwen2Config
{
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

    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>DeepSeek-R1-Distill-Qwen-1.5B, for benchmarks that need the real shapes without the weights.</summary>
    public static Qwen2Config DeepSeekR1DistillQwen1_5B { get; } = new()
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

    public static Qwen2Config Load(string path)
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
            var architectures = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
                ? a.EnumerateArray().Select(e => e.GetString() ?? "").ToArray()
                : [];
            var modelType = root.TryGetProperty("model_type", out var mt) ? mt.GetString() : null;
            if (!architectures.Contains("Qwen2ForCausalLM") && modelType != "qwen2")
            {
                var found = architectures.Length > 0 ? string.Join(", ", architectures) : modelType ?? "none";
                throw new InvalidInputException(path, $"unsupported architecture '{found}': only Qwen2ForCausalLM (model_type qwen2) is supported", field: "architectures");
            }
            if (root.TryGetProperty("hidden_act", out var act) && act.GetString() != "silu")
            {
                throw new InvalidInputException(path, $"unsupported activation '{act.GetString()}': Qwen2 uses silu", field: "hidden_act");
            }
            if (root.TryGetProperty("rope_scaling", out var scaling) && scaling.ValueKind != JsonValueKind.Null)
            {
                throw new InvalidInputException(path, "rope_scaling is not supported", field: "rope_scaling");
            }
            var config = new Qwen2Config
            {
                HiddenSize = RequiredInt(root, "hidden_size", path),
                IntermediateSize = RequiredInt(root, "intermediate_size", path),
                NumHiddenLayers = RequiredInt(root, "num_hidden_layers", path),
                NumAttentionHeads = RequiredInt(root, "num_attention_heads", path),
                NumKeyValueHeads = root.TryGetProperty("num_key_value_heads", out _) ? RequiredInt(root, "num_key_value_heads", path) : RequiredInt(root, "num_attention_heads", path),
                VocabSize = RequiredInt(root, "vocab_size", path),
                RmsNormEps = OptionalDouble(root, "rms_norm_eps", path) ?? 1e-6,
                RopeTheta = OptionalDouble(root, "rope_theta", path) ?? 10000,
                MaxPositionEmbeddings = root.TryGetProperty("max_position_embeddings", out _) ? RequiredInt(root, "max_position_embeddings", path) : 32768,
                TieWordEmbeddings = root.TryGetProperty("tie_word_embeddings", out var tie) && tie.ValueKind == JsonValueKind.True,
            };
            if (config.HiddenSize % config.NumAttentionHeads != 0 || config.NumAttentionHeads % config.NumKeyValueHeads != 0)
            {
                throw new InvalidInputException(path, "hidden_size must divide into num_attention_heads, and those into num_key_value_heads", field: "num_key_value_heads");
            }
            if (config.HeadDim % 2 != 0)
            {
                throw new InvalidInputException(path, "head_dim must be even for rotary embeddings", field: "hidden_size");
            }
            return config;
        }
    }

    static int RequiredInt(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var result) || result <= 0)
        {
            throw new InvalidInputException(path, "missing or not a positive integer", field: name);
        }
        return result;
    }

    static double? OptionalDouble(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var value))
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number || value.GetDouble() <= 0)
        {
            throw new InvalidInputException(path, "not a positive number", field: name);
        }
        return value.GetDouble();
    }
}
