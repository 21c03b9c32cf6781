using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Activations.Contracts;
using Activations.ServiceDefaults;

namespace Activations.Coordinator.Assembly;

public sealed record ManifestModel(string Id, string? Revision);

/// <summary>Each class's pair ids in the row order of the tensors.</summary>
public sealed record ManifestPairs(IReadOnlyList<string> Faithful, IReadOnlyList<string> Unfaithful);

public sealed record ManifestTimings(DateTimeOffset Started, DateTimeOffset Finished, double Seconds);

/// <summary>
/// manifest.json: what the layer files hold and how they were made, enough to tie a row back to its pair and to
/// rerun the capture the same way. Written last, so its presence marks a complete output folder.
/// </summary>
public sealed record Manifest
{
    public required string ToolVersion { get; init; }
    public required ManifestModel Model { get; init; }
    public required IReadOnlyList<int> Layers { get; init; }
    public required string Pooling { get; init; }
    public required string BosPolicy { get; init; }
    /// <summary>The element type in the files.</summary>
    public required string Dtype { get; init; }
    /// <summary>The dtype the model ran in (bfloat16 runs are saved as float32).</summary>
    public required string ComputeDtype { get; init; }
    public required string Device { get; init; }
    public required string Variant { get; init; }
    public required ManifestPairs PairIds { get; init; }
    /// <summary>Model input length of each question, by pair id.</summary>
    public required IReadOnlyDictionary<string, int> TokenCounts { get; init; }
    public required ManifestTimings Timings { get; init; }
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>Fills the manifest from the job's settings with the device and dtype as resolved at run time.</summary>
    public static Manifest Create(
        CaptureSettings settings,
        ComputeDevice resolvedDevice,
        ComputeDtype resolvedComputeDtype,
        string variant,
        IReadOnlyList<string> faithfulPairIds,
        IReadOnlyList<string> unfaithfulPairIds,
        IReadOnlyDictionary<string, int> tokenCounts,
        DateTimeOffset started,
        DateTimeOffset finished) => new()
    {
        ToolVersion = ToolVersionOf(typeof(Manifest).Assembly),
        Model = new ManifestModel(settings.Model, settings.Revision),
        Layers = settings.Layers,
        Pooling = OptionNames.Of(settings.Pooling),
        BosPolicy = OptionNames.Of(settings.BosPolicy),
        Dtype = ActivationDtypes.ForCompute(resolvedComputeDtype).Name(),
        ComputeDtype = OptionNames.Of(resolvedComputeDtype),
        Device = OptionNames.Of(resolvedDevice),
        Variant = variant,
        PairIds = new ManifestPairs(faithfulPairIds, unfaithfulPairIds),
        TokenCounts = tokenCounts,
        Timings = new ManifestTimings(started, finished, Math.Round((finished - started).TotalSeconds, 3)),
        Files = settings.Layers.Select(ActivationFileWriter.FileNameFor).ToList(),
    };

    public static string ToolVersionOf(System.Reflection.Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? assembly.GetName().Version?.ToString()
        ?? "unknown";
}

public static class ManifestFile
{
    public const string FileName = "manifest.json";

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null, // pair ids are data, not names to rewrite
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Writes manifest.json atomically and returns its path.</summary>
    public static string Write(string outDir, Manifest manifest)
    {
        ActivationFileWriter.CheckWritable(outDir);
        var path = Path.Combine(outDir, FileName);
        AtomicFile.Write(path, stream => JsonSerializer.Serialize(stream, manifest, JsonOptions));
        return path;
    }

    public static Manifest Read(string path)
    {
        using var stream = File.OpenRead(path);
        return JsonSerializer.Deserialize<Manifest>(stream, JsonOptions)
            ?? throw new InvalidDataException($"{path}: manifest is null");
    }
}
