using Activations.Contracts;

namespace Activations.Coordinator.Assembly;

/// <summary>The file formats written per hook: torch.save's .pt (the default), and safetensors on request.</summary>
[Flags]
public enum OutputFormats
{
    Pt = 1,
    Safetensors = 2,
}

public static class OutputFormatNames
{
    /// <summary>Reads a --format list (pt, safetensors, comma-separated), or says which formats there are.</summary>
    public static OutputFormats Parse(string text)
    {
        OutputFormats formats = 0;
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries))
        {
            formats |= item.ToLowerInvariant() switch
            {
                "pt" => OutputFormats.Pt,
                "safetensors" => OutputFormats.Safetensors,
                _ => throw new InvalidInputException("--format", $"unknown format '{item}': use pt, safetensors or pt,safetensors"),
            };
        }
        return formats;
    }

    public static IReadOnlyList<string> Extensions(OutputFormats formats) =>
        [.. new[] { (OutputFormats.Pt, ".pt"), (OutputFormats.Safetensors, ".safetensors") }.Where(f => formats.HasFlag(f.Item1)).Select(f => f.Item2)];
}
