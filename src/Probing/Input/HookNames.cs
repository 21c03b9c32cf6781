using System.Text.RegularExpressions;

namespace Activations.Probing.Input;

/// <summary>
/// TransformerLens hook names and the file names the capture writes for them: <c>blocks.L.hook_resid_post</c> is
/// <c>layer_L_activations.pt</c>, any other hook <c>{hook}_activations.pt</c> (and <c>.safetensors</c> alike).
/// </summary>
public static partial class HookNames
{
    public const string Suffix = "_activations";

    /// <summary>The file stem a hook is written under (layer_12, blocks.12.hook_mlp_out).</summary>
    public static string StemFor(string hook) =>
        ResidPost().Match(hook) is { Success: true } m ? $"layer_{m.Groups[1].Value}" : hook;

    /// <summary>The hook a file stem holds when nothing better is known: layer_L is the residual stream after layer L.</summary>
    public static string HookForStem(string stem) =>
        LayerStem().Match(stem) is { Success: true } m ? $"blocks.{m.Groups[1].Value}.hook_resid_post" : stem;

    /// <summary>Sort key in the model's order: embeddings first, then by layer, within a layer in forward-pass order.</summary>
    public static (int Layer, int Position, string Name) OrderKey(string hook)
    {
        if (hook == "hook_embed")
        {
            return (-1, 0, hook);
        }
        var m = Block().Match(hook);
        if (!m.Success)
        {
            return (int.MaxValue, 0, hook);
        }
        var position = Array.IndexOf(ForwardOrder, m.Groups[2].Value);
        return (int.Parse(m.Groups[1].Value), position < 0 ? ForwardOrder.Length : position, hook);
    }

    static readonly string[] ForwardOrder = ["hook_resid_pre", "attn.hook_z", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post"];

    [GeneratedRegex(@"^blocks\.(\d+)\.hook_resid_post$")]
    private static partial Regex ResidPost();

    [GeneratedRegex(@"^layer_(\d+)$")]
    private static partial Regex LayerStem();

    [GeneratedRegex(@"^blocks\.(\d+)\.(.+)$")]
    private static partial Regex Block();
}
