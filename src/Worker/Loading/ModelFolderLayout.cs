using System.Text.Json;
using Activations.Contracts;

namespace Activations.Worker.Loading;

/// <summary>
/// What a Hugging Face model folder contains, said once: the config and tokenizer files every folder needs, and
/// safetensors weights (model.safetensors, or model.safetensors.index.json and the shards it names). Opening a folder
/// (<see cref="ModelFolder"/>), checking a cached snapshot and choosing what to download all read it from here.
/// </summary>
public static class ModelFolderLayout
{
    public const string ConfigFile = "config.json";
    public const string TokenizerFile = "tokenizer.json";
    public const string TokenizerConfigFile = "tokenizer_config.json";
    public const string SingleWeightsFile = "model.safetensors";
    public const string WeightsIndexFile = "model.safetensors.index.json";

    /// <summary>Downloaded when the repository has it (the loader does not need it).</summary>
    public const string GenerationConfigFile = "generation_config.json";

    /// <summary>A file every model folder needs, and what it is for (in error messages).</summary>
    public sealed record RequiredFile(string Name, string What);

    public static IReadOnlyList<RequiredFile> RequiredFiles { get; } =
    [
        new(ConfigFile, "the model's config"),
        new(TokenizerFile, "the tokenizer"),
        new(TokenizerConfigFile, "the tokenizer's settings"),
    ];

    /// <summary>The message for a folder or repository without safetensors weights.</summary>
    public static string NoWeights(bool hasPickles, string verb) => hasPickles
        ? $"no safetensors weights ({SingleWeightsFile} or {WeightsIndexFile}); pickle checkpoints (.bin, .pt) are never {verb}"
        : $"no weights: expected {SingleWeightsFile} or {WeightsIndexFile}";

    /// <summary>
    /// The files <paramref name="folder"/> still needs to be a loadable model folder: a required file, the single
    /// weights file, or a shard the index names. Empty when complete.
    /// </summary>
    public static IReadOnlyList<string> MissingFiles(string folder)
    {
        var missing = RequiredFiles.Select(f => f.Name).Where(name => !File.Exists(Path.Combine(folder, name))).ToList();
        var index = Path.Combine(folder, WeightsIndexFile);
        if (File.Exists(index))
        {
            missing.AddRange(ShardNames(index).Where(shard => !File.Exists(Path.Combine(folder, shard))));
        }
        else if (!File.Exists(Path.Combine(folder, SingleWeightsFile)))
        {
            missing.Add(SingleWeightsFile);
        }
        return missing;
    }

    /// <summary>
    /// Of a repository's <paramref name="listed"/> files, the ones to download before the shards: the required files,
    /// the generation config where present, and the weights file or index (<paramref name="sharded"/> when the index).
    /// A repository that lacks a required file or safetensors weights is refused, naming <paramref name="source"/>.
    /// </summary>
    public static IReadOnlyList<string> FilesToDownload(IReadOnlySet<string> listed, string source, out bool sharded)
    {
        foreach (var required in RequiredFiles.Where(f => !listed.Contains(f.Name)))
        {
            throw new InvalidInputException(source, $"the repository has no {required.Name}, which a model folder needs");
        }
        var files = RequiredFiles.Select(f => f.Name).ToList();
        if (listed.Contains(GenerationConfigFile))
        {
            files.Add(GenerationConfigFile);
        }
        sharded = listed.Contains(WeightsIndexFile);
        if (sharded)
        {
            files.Add(WeightsIndexFile);
        }
        else if (listed.Contains(SingleWeightsFile))
        {
            files.Add(SingleWeightsFile);
        }
        else
        {
            throw new InvalidInputException(source, NoWeights(listed.Any(IsPickle), "downloaded"));
        }
        return files;
    }

    /// <summary>The shard files an index names, each checked to be a plain .safetensors file name.</summary>
    public static IReadOnlyList<string> ShardNames(string index)
    {
        var shards = ReadWeightMap(index).Select(entry => entry.Value).Distinct(StringComparer.Ordinal).ToList();
        foreach (var shard in shards.Where(shard => !shard.EndsWith(".safetensors", StringComparison.Ordinal)))
        {
            throw new InvalidInputException(index, $"names shard '{shard}', which is not a .safetensors file (pickles are never loaded)", field: "weight_map");
        }
        return shards;
    }

    /// <summary>An index's weight_map (tensor → shard file), each shard a plain file name in the folder.</summary>
    public static IEnumerable<KeyValuePair<string, string>> ReadWeightMap(string index)
    {
        Dictionary<string, string> map;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(index));
            if (!doc.RootElement.TryGetProperty("weight_map", out var weightMap) || weightMap.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidInputException(index, "missing or not an object", field: "weight_map");
            }
            map = weightMap.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException(index, $"not valid JSON: {e.Message}", (int?)e.LineNumber + 1);
        }
        foreach (var (tensor, shard) in map)
        {
            if (shard.Length == 0 || shard.Contains('/') || shard.Contains('\\') || shard.StartsWith('.'))
            {
                throw new InvalidInputException(index, $"'{tensor}' maps to a bad shard name '{shard}'", field: "weight_map");
            }
        }
        return map;
    }

    /// <summary>A pickle checkpoint, which is never downloaded nor loaded.</summary>
    public static bool IsPickle(string file) =>
        file.EndsWith(".bin", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".pt", StringComparison.OrdinalIgnoreCase)
        || file.EndsWith(".pth", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".pkl", StringComparison.OrdinalIgnoreCase)
        || file.EndsWith(".ckpt", StringComparison.OrdinalIgnoreCase);
}
