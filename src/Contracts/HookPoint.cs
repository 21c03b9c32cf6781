using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Activations.Contracts;

/// <summary>Where in a decoder a hook point sits, in forward order within a layer.</summary>
public enum HookKind
{
    /// <summary><c>hook_embed</c>: the token embeddings (no layer).</summary>
    Embed,
    /// <summary><c>blocks.L.hook_resid_pre</c>: the layer's input.</summary>
    ResidPre,
    /// <summary><c>blocks.L.attn.hook_z</c>: each head's attention-weighted values, head-major, before o_proj.</summary>
    AttnZ,
    /// <summary><c>blocks.L.hook_attn_out</c>: the attention block's output, after o_proj.</summary>
    AttnOut,
    /// <summary><c>blocks.L.hook_resid_mid</c>: resid_pre + attn_out.</summary>
    ResidMid,
    /// <summary><c>blocks.L.hook_mlp_out</c>: the MLP's output.</summary>
    MlpOut,
    /// <summary><c>blocks.L.hook_resid_post</c>: resid_mid + mlp_out (HF hidden_states[L + 1]).</summary>
    ResidPost,
}

/// <summary>
/// A hook point named as TransformerLens names it (<c>hook_embed</c>, <c>blocks.12.hook_mlp_out</c>,
/// <c>blocks.3.attn.hook_z</c>), with Hugging Face semantics. Travels as its name; orders by layer, then forward order.
/// </summary>
[JsonConverter(typeof(HookPointJsonConverter))]
public readonly record struct HookPoint : IComparable<HookPoint>
{
    HookPoint(HookKind kind, int layer)
    {
        Kind = kind;
        Layer = layer;
    }

    public HookKind Kind { get; }

    /// <summary>The 0-based decoder layer; -1 for <see cref="HookKind.Embed"/>.</summary>
    public int Layer { get; }

    public static HookPoint Embed { get; } = new(HookKind.Embed, -1);

    public static HookPoint At(HookKind kind, int layer)
    {
        if (kind == HookKind.Embed)
        {
            return Embed;
        }
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        return new HookPoint(kind, layer);
    }

    public static HookPoint ResidPost(int layer) => At(HookKind.ResidPost, layer);

    /// <summary>Decoder layers the forward pass must run for this hook: 0 for hook_embed, else L + 1.</summary>
    public int LayersNeeded => Kind == HookKind.Embed ? 0 : Layer + 1;

    /// <summary>The TransformerLens name.</summary>
    public string Name => Kind == HookKind.Embed ? EmbedName : $"blocks.{Layer.ToString(CultureInfo.InvariantCulture)}.{Suffix(Kind)}";

    /// <summary>The file name without extension: <c>layer_{L}_activations</c> for resid_post (the seed's name), else <c>{name}_activations</c>.</summary>
    public string FileStem => Kind == HookKind.ResidPost ? $"layer_{Layer.ToString(CultureInfo.InvariantCulture)}_activations" : $"{Name}_activations";

    /// <summary>Values per token: n_heads * head_dim for hook_z, hidden_size for every other hook.</summary>
    public int Width(int hiddenSize, int attentionWidth) => Kind == HookKind.AttnZ ? attentionWidth : hiddenSize;

    public override string ToString() => Name;

    public int CompareTo(HookPoint other) => Layer != other.Layer ? Layer.CompareTo(other.Layer) : Kind.CompareTo(other.Kind);

    public const string EmbedName = "hook_embed";

    /// <summary>The name after <c>blocks.L.</c> for each per-layer kind.</summary>
    public static string Suffix(HookKind kind) => kind switch
    {
        HookKind.ResidPre => "hook_resid_pre",
        HookKind.AttnZ => "attn.hook_z",
        HookKind.AttnOut => "hook_attn_out",
        HookKind.ResidMid => "hook_resid_mid",
        HookKind.MlpOut => "hook_mlp_out",
        HookKind.ResidPost => "hook_resid_post",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Every name there is, with L for the layer: what --help and error messages list.</summary>
    public static IReadOnlyList<string> NamePatterns { get; } =
        [EmbedName, .. Enum.GetValues<HookKind>().Where(k => k != HookKind.Embed).Select(k => $"blocks.L.{Suffix(k)}")];

    /// <summary>Reads an exact hook name (a layer number, not '*'); false for anything else.</summary>
    public static bool TryParse(string? text, out HookPoint hook)
    {
        hook = default;
        if (text is null)
        {
            return false;
        }
        if (text == EmbedName)
        {
            hook = Embed;
            return true;
        }
        if (!TrySplit(text, out var layerText, out var kind) || !TryParseLayer(layerText, out var layer))
        {
            return false;
        }
        hook = At(kind, layer);
        return true;
    }

    /// <summary>Reads an exact hook name or throws <see cref="FormatException"/> naming it.</summary>
    public static HookPoint Parse(string text) => TryParse(text, out var hook) ? hook : throw new FormatException($"'{text}' is not a hook name");

    /// <summary>Splits <c>blocks.X.suffix</c> into X and the kind; X is not checked.</summary>
    internal static bool TrySplit(string text, [NotNullWhen(true)] out string? layer, out HookKind kind)
    {
        layer = null;
        kind = default;
        const string prefix = "blocks.";
        if (!text.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }
        var dot = text.IndexOf('.', prefix.Length);
        if (dot < 0)
        {
            return false;
        }
        var suffix = text[(dot + 1)..];
        foreach (var candidate in Enum.GetValues<HookKind>())
        {
            if (candidate != HookKind.Embed && Suffix(candidate) == suffix)
            {
                layer = text[prefix.Length..dot];
                kind = candidate;
                return true;
            }
        }
        return false;
    }

    /// <summary>A non-negative decimal layer number, digits only (no sign, no spaces).</summary>
    internal static bool TryParseLayer(string text, out int layer)
    {
        layer = -1;
        return text.Length > 0 && text.All(char.IsAsciiDigit)
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out layer);
    }
}

/// <summary>Writes a hook point as its name and reads it back from one.</summary>
public sealed class HookPointJsonConverter : JsonConverter<HookPoint>
{
    public override HookPoint Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.GetString();
        return HookPoint.TryParse(text, out var hook) ? hook : throw new JsonException($"'{text}' is not a hook name");
    }

    public override void Write(Utf8JsonWriter writer, HookPoint value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name);

    public override HookPoint ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Read(ref reader, typeToConvert, options);

    public override void WriteAsPropertyName(Utf8JsonWriter writer, HookPoint value, JsonSerializerOptions options) => writer.WritePropertyName(value.Name);
}
