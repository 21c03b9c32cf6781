namespace Activations.Contracts;

/// <summary>How the per-token residual vectors of one question are reduced to one vector.</summary>
public enum Pooling
{
    /// <summary>Mean over every token of the model input (a BOS included), as in the seed.</summary>
    Mean,
    /// <summary>The last real token's vector.</summary>
    Last,
    /// <summary>Mean over the tokens after a leading BOS; the same as <see cref="Mean"/> without one.</summary>
    MeanNoBos,
}

/// <summary>Whether the tokenizer's BOS token is put once in front of the question.</summary>
public enum BosPolicy
{
    /// <summary>No BOS, as TransformerLens does for Qwen2 (its default prepend_bos is False).</summary>
    NoBos,
    Bos,
}

public enum ComputeDevice
{
    /// <summary>CUDA when present, else the CPU.</summary>
    Auto,
    Cpu,
    Cuda,
}

public enum ComputeDtype
{
    /// <summary>fp16 on CUDA, float32 on the CPU.</summary>
    Auto,
    Float32,
    Float16,
    BFloat16,
}

/// <summary>The names users type for the enums above, in one place for the CLI, the manifest and logs.</summary>
public static class OptionNames
{
    public static string Of(Pooling pooling) => pooling switch
    {
        Pooling.Mean => "mean",
        Pooling.Last => "last",
        Pooling.MeanNoBos => "mean-no-bos",
        _ => throw new ArgumentOutOfRangeException(nameof(pooling)),
    };

    public static string Of(BosPolicy policy) => policy == BosPolicy.Bos ? "bos" : "no-bos";

    public static string Of(ComputeDevice device) => device.ToString().ToLowerInvariant();

    public static string Of(ComputeDtype dtype) => dtype switch
    {
        ComputeDtype.Auto => "auto",
        ComputeDtype.Float32 => "float32",
        ComputeDtype.Float16 => "float16",
        ComputeDtype.BFloat16 => "bfloat16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>Parses a --device value, or says which values there are.</summary>
    public static ComputeDevice ParseDevice(string text) => TryParseDevice(text, out var device)
        ? device
        : throw new InvalidInputException("--device", $"unknown device '{text}': use auto, cpu or cuda");

    /// <summary>Parses a --dtype value, or says which values there are.</summary>
    public static ComputeDtype ParseDtype(string text) => TryParseDtype(text, out var dtype)
        ? dtype
        : throw new InvalidInputException("--dtype", $"unknown dtype '{text}': use auto, float32, float16 or bfloat16");

    /// <summary>Parses a --pooling value, or says which values there are.</summary>
    public static Pooling ParsePooling(string text) => TryParsePooling(text, out var pooling)
        ? pooling
        : throw new InvalidInputException("--pooling", $"unknown pooling '{text}': use mean, last or mean-no-bos");

    public static bool TryParsePooling(string text, out Pooling pooling) => TryParse(text, out pooling, Of);

    public static bool TryParseBosPolicy(string text, out BosPolicy policy) => TryParse(text, out policy, Of);

    public static bool TryParseDevice(string text, out ComputeDevice device) => TryParse(text, out device, Of);

    public static bool TryParseDtype(string text, out ComputeDtype dtype)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "fp32": dtype = ComputeDtype.Float32; return true;
            case "fp16": case "half": dtype = ComputeDtype.Float16; return true;
            case "bf16": dtype = ComputeDtype.BFloat16; return true;
        }
        return TryParse(text, out dtype, Of);
    }

    static bool TryParse<T>(string text, out T value, Func<T, string> name) where T : struct, Enum
    {
        foreach (var candidate in Enum.GetValues<T>())
        {
            if (string.Equals(name(candidate), text.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                value = candidate;
                return true;
            }
        }
        value = default;
        return false;
    }
}
