using System.Text.Json;
using Activations.Contracts;

namespace Activations.Worker.Model;

/// <summary>config.json's rope_scaling, one record per supported rope_type; any other type is refused by name.</summary>
public abstract record RopeScaling
{
    public const string Supported = "llama3, yarn (or none / default)";

    /// <summary>Parses rope_scaling (or transformers 5's rope_parameters); null for none or "default".</summary>
    public static RopeScaling? Parse(JsonElement element, string path, string field)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidInputException(path, "expected an object or null", field: field);
        }
        // BC: HF reads "type" when "rope_type" is absent.
        var typeElement = element.TryGetProperty("rope_type", out var t) ? t : element.TryGetProperty("type", out var old) ? old : default;
        var type = typeElement.ValueKind == JsonValueKind.String ? typeElement.GetString() : null;
        switch (type)
        {
            case null when typeElement.ValueKind == JsonValueKind.Undefined && field == "rope_parameters":
            case "default":
                return null;
            case "llama3":
                return new Llama3RopeScaling(
                    Required(element, "factor", path, field),
                    Required(element, "low_freq_factor", path, field),
                    Required(element, "high_freq_factor", path, field),
                    (int)Required(element, "original_max_position_embeddings", path, field));
            case "yarn":
                var known = new HashSet<string> { "rope_type", "type", "rope_theta", "factor", "attention_factor", "beta_fast", "beta_slow", "original_max_position_embeddings", "mscale", "mscale_all_dim", "truncate" };
                return new YarnRopeScaling
                {
                    Factor = DecoderConfig.OptionalDouble(element, "factor", path, $"{field}.factor"),
                    AttentionFactor = DecoderConfig.OptionalDouble(element, "attention_factor", path, $"{field}.attention_factor"),
                    BetaFast = DecoderConfig.OptionalDouble(element, "beta_fast", path, $"{field}.beta_fast"),
                    BetaSlow = DecoderConfig.OptionalDouble(element, "beta_slow", path, $"{field}.beta_slow"),
                    OriginalMaxPositionEmbeddings = DecoderConfig.OptionalDouble(element, "original_max_position_embeddings", path, $"{field}.original_max_position_embeddings") is { } original ? (int)original : null,
                    Mscale = DecoderConfig.OptionalDouble(element, "mscale", path, $"{field}.mscale"),
                    MscaleAllDim = DecoderConfig.OptionalDouble(element, "mscale_all_dim", path, $"{field}.mscale_all_dim"),
                    Truncate = DecoderConfig.OptionalBool(element, "truncate", path, $"{field}.truncate") ?? true,
                    UnrecognizedKeys = element.EnumerateObject().Select(p => p.Name).Where(n => !known.Contains(n)).ToArray(),
                };
            default:
                throw new InvalidInputException(path, $"unsupported RoPE scaling type '{type ?? "(none given)"}': supported are {Supported}", field: $"{field}.rope_type");
        }
    }

    static double Required(JsonElement element, string name, string path, string field)
        => DecoderConfig.OptionalDouble(element, name, path, $"{field}.{name}")
           ?? throw new InvalidInputException(path, "missing", field: $"{field}.{name}");
}

/// <summary>Llama 3.1's rope_type "llama3" (HF _compute_llama3_parameters).</summary>
public sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings) : RopeScaling;

/// <summary>
/// rope_type "yarn" (HF _compute_yarn_parameters). Null members take HF's defaults: beta_fast 32, beta_slow 1,
/// original_max_position_embeddings = max_position_embeddings, attention_factor from mscale.
/// </summary>
public sealed record YarnRopeScaling : RopeScaling
{
    public double? Factor { get; init; }
    public double? AttentionFactor { get; init; }
    public double? BetaFast { get; init; }
    public double? BetaSlow { get; init; }
    public int? OriginalMaxPositionEmbeddings { get; init; }
    public double? Mscale { get; init; }
    public double? MscaleAllDim { get; init; }
    public bool Truncate { get; init; } = true;

    /// <summary>Keys HF does not read either (it warns), e.g. DeepSeek-R1-0528-Qwen3-8B's "attn_factor".</summary>
    public IReadOnlyList<string> UnrecognizedKeys { get; init; } = [];
}
