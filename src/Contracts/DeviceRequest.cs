namespace Activations.Contracts;

/// <summary>
/// What --device asked for: a kind (auto, cpu, cuda), or explicit devices ("cuda:1", "cuda:0,cuda:1", "cpu,cpu")
/// over which one model's layers are split. Parsed once, here.
/// </summary>
public sealed record DeviceRequest
{
    DeviceRequest(ComputeDevice kind, IReadOnlyList<string> entries)
    {
        Kind = kind;
        Entries = entries;
    }

    /// <summary>The kind a job records: cuda when the entries are CUDA devices.</summary>
    public ComputeDevice Kind { get; }

    /// <summary>Explicit devices in order ("cpu", "cuda:N"); empty when only a kind was given.</summary>
    public IReadOnlyList<string> Entries { get; }

    public static DeviceRequest Of(ComputeDevice kind) => new(kind, []);

    /// <summary>Parses a --device value, or says which values there are.</summary>
    public static DeviceRequest Parse(string text)
    {
        if (OptionNames.TryParseDevice(text, out var kind))
        {
            return Of(kind);
        }
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var entries = new List<string>();
        foreach (var part in parts)
        {
            var lower = part.ToLowerInvariant();
            if (lower == "cpu")
            {
                entries.Add("cpu");
            }
            else if (lower == "cuda")
            {
                entries.Add("cuda:0");
            }
            else if (lower.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(lower.AsSpan(5), System.Globalization.NumberStyles.None, null, out var index))
            {
                entries.Add($"cuda:{index}");
            }
            else
            {
                throw new InvalidInputException("--device", $"unknown device '{part}' in '{text}': use auto, cpu, cuda, cuda:N, or a comma-separated list such as cuda:0,cuda:1");
            }
        }
        var cuda = entries.Count(e => e != "cpu");
        if (cuda != 0 && cuda != entries.Count)
        {
            throw new InvalidInputException("--device", $"'{text}' mixes the CPU and CUDA devices: list devices of one kind");
        }
        return new(cuda > 0 ? ComputeDevice.Cuda : ComputeDevice.Cpu, entries);
    }

    public override string ToString() => Entries.Count > 0 ? string.Join(",", Entries) : OptionNames.Of(Kind);
}
