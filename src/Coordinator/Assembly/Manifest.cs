using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Activations.Contracts;
using Activations.ServiceDefaults;

namespace Activations.Coordinator.Assembly;

/// <param name="Id">the model as given (a folder or a Hub id)</param>
/// <param name="Revision">the revision asked for, if any</param>
/// <param name="ResolvedCommit">the Hub commit the model came from, where the Hub gave one</param>
/// <param name="Fingerprint">the content fingerprint of config, weight headers and weight samples</param>
public sealed record ManifestModel(string Id, string? Revision, string? ResolvedCommit, string Fingerprint);

/// <summary>A hook that was captured: its TransformerLens name, the width of each row, and the files holding it.</summary>
public sealed record ManifestHook(string Name, int Width, IReadOnlyList<string> Files);

/// <summary>A worker that answered: its name, the device it computed on (cpu, cuda:0), its compute dtype, how many questions.</summary>
public sealed record ManifestWorker(string Name, string Device, string ComputeDtype, int Questions);

public sealed record ManifestCaps(int MaxFaithful, int MaxUnfaithful);

public sealed record ManifestInput(string Path, string Sha256);

public sealed record ManifestInputs(ManifestInput Scores, ManifestInput Responses);

/// <summary>A pair of the scores that has no row in the tensors, and why.</summary>
public sealed record ManifestLeftOut(string PairId, string Reason);

/// <summary>Each class's pair ids in the row order of the tensors.</summary>
public sealed record ManifestPairs(IReadOnlyList<string> Faithful, IReadOnlyList<string> Unfaithful);

public sealed record ManifestTimings(DateTimeOffset Started, DateTimeOffset Finished, double Seconds);

/// <summary>
/// What a capture ran, the same in `run`'s and `capture`'s manifest.json: the tool, the model, the hooks and how they
/// were pooled, the dtypes and the workers that answered.
/// </summary>
public abstract record RunManifest
{
    // In manifest.json: what ran first, then each command's own fields, then token counts, timings and files.
    [JsonPropertyOrder(-1)]
    public required string ToolVersion { get; init; }
    [JsonPropertyOrder(-1)]
    public required ManifestModel Model { get; init; }
    /// <summary>Every hook captured, in order (layer, then forward order).</summary>
    [JsonPropertyOrder(-1)]
    public required IReadOnlyList<ManifestHook> Hooks { get; init; }
    [JsonPropertyOrder(-1)]
    public required string Pooling { get; init; }
    [JsonPropertyOrder(-1)]
    public required string BosPolicy { get; init; }
    [JsonPropertyOrder(-1)]
    public int? MaxTokens { get; init; }
    /// <summary>--prompt-template, when one wrapped each text; null: the texts as they are.</summary>
    [JsonPropertyOrder(-1)]
    public string? PromptTemplate { get; init; }
    /// <summary>The element type in the files.</summary>
    [JsonPropertyOrder(-1)]
    public required string Dtype { get; init; }
    /// <summary>The dtype the model ran in (bfloat16 runs are saved as float32).</summary>
    [JsonPropertyOrder(-1)]
    public required string ComputeDtype { get; init; }
    /// <summary>The device kind the job was resolved for (cpu or cuda); each worker's own device is in <see cref="Workers"/>.</summary>
    [JsonPropertyOrder(-1)]
    public required string Device { get; init; }
    [JsonPropertyOrder(-1)]
    public required IReadOnlyList<ManifestWorker> Workers { get; init; }
    /// <summary>Model input length of each question, by id.</summary>
    [JsonPropertyOrder(1)]
    public required IReadOnlyDictionary<string, int> TokenCounts { get; init; }
    [JsonPropertyOrder(1)]
    public required ManifestTimings Timings { get; init; }
    [JsonPropertyOrder(1)]
    public required IReadOnlyList<string> Files { get; init; }
}

/// <summary>
/// `run`'s manifest.json: what actually ran (<see cref="RunManifest"/>) and what the files hold, enough to tie a row back
/// to its pair and to rerun the capture the same way. Written last, so its presence marks a complete output folder.
/// </summary>
public sealed record Manifest : RunManifest
{
    /// <summary>The layers L of the blocks.L.hook_resid_post hooks (the layer_{L}_activations files).</summary>
    public required IReadOnlyList<int> Layers { get; init; }
    public required string Variant { get; init; }
    public required ManifestCaps Caps { get; init; }
    public required ManifestInputs Inputs { get; init; }
    public required ManifestPairs PairIds { get; init; }
    public required IReadOnlyList<ManifestLeftOut> LeftOut { get; init; }

    public static string ToolVersionOf(System.Reflection.Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? assembly.GetName().Version?.ToString()
        ?? "unknown";

    /// <summary>This tool's version, as the manifest records it.</summary>
    public static string CurrentToolVersion => ToolVersionOf(typeof(Manifest).Assembly);
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
    public static string Write<T>(string outDir, T manifest)
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
