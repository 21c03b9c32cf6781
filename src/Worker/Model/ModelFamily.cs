using Activations.Contracts;

namespace Activations.Worker.Model;

/// <summary>The decoder architectures the engine runs, as Hugging Face names them.</summary>
public enum ModelFamily
{
    /// <summary>Qwen2ForCausalLM: q/k/v biases, no o_proj bias.</summary>
    Qwen2,
    /// <summary>LlamaForCausalLM: biases only when attention_bias / mlp_bias say so.</summary>
    Llama,
    /// <summary>Qwen3ForCausalLM: per-head RMSNorm on queries and keys (q_norm, k_norm) before RoPE.</summary>
    Qwen3,
}

public static class ModelFamilies
{
    /// <summary>Each family's config.json names: (architectures entry, model_type).</summary>
    public static readonly IReadOnlyList<(ModelFamily Family, string Architecture, string ModelType)> Supported =
    [
        (ModelFamily.Qwen2, "Qwen2ForCausalLM", "qwen2"),
        (ModelFamily.Llama, "LlamaForCausalLM", "llama"),
        (ModelFamily.Qwen3, "Qwen3ForCausalLM", "qwen3"),
    ];

    /// <summary>"Qwen2ForCausalLM (qwen2), ...": for messages that refuse another architecture.</summary>
    public static string SupportedList => string.Join(", ", Supported.Select(s => $"{s.Architecture} ({s.ModelType})"));

    public static string ArchitectureOf(this ModelFamily family) => Supported.First(s => s.Family == family).Architecture;

    /// <summary>
    /// TransformerLens' default: no BOS for Qwen2 (its default_prepend_bos is False there), the tokenizer's BOS
    /// once in front for Llama and Qwen3.
    /// </summary>
    public static BosPolicy DefaultBosPolicy(this ModelFamily family) => family == ModelFamily.Qwen2 ? BosPolicy.NoBos : BosPolicy.Bos;
}
