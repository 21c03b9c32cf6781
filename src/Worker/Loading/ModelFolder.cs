using System.Text.Json;
using Activations.Contracts;
using Activations.Worker.Model;

namespace Activations.Worker.Loading;

/// <summary>
/// A Hugging Face model folder, checked up front: config.json for a supported decoder (Qwen2, Llama, Qwen3), tokenizer.json,
/// tokenizer_config.json, and safetensors weights (one file, or shards listed in model.safetensors.index.json).
/// </summary>
public sealed class ModelFolder
{
    public const string ConfigFile = "config.json";
    public const string TokenizerFile = "tokenizer.json";
    public const string TokenizerConfigFile = "tokenizer_config.json";
    public const string SingleWeightsFile = "model.safetensors";
    public const string WeightsIndexFile = "model.safetensors.index.json";

    readonly Dictionary<string, SafetensorsFile> tensorFiles;

    ModelFolder(string path, DecoderConfig config, Dictionary<string, SafetensorsFile> tensorFiles)
    {
        Path = path;
        Config = config;
        this.tensorFiles = tensorFiles;
    }

    public string Path { get; }

    public DecoderConfig Config { get; }

    public string ConfigPath => System.IO.Path.Combine(Path, ConfigFile);

    public string TokenizerPath => System.IO.Path.Combine(Path, TokenizerFile);

    public string TokenizerConfigPath => System.IO.Path.Combine(Path, TokenizerConfigFile);

    /// <summary>Which file holds each tensor.</summary>
    public IReadOnlyDictionary<string, SafetensorsFile> TensorFiles => tensorFiles;

    public static ModelFolder Open(string path)
    {
        if (File.Exists(path))
        {
            throw new InvalidInputException(path, "expected a model folder, found a file");
        }
        if (!Directory.Exists(path))
        {
            throw new InvalidInputException(path, "model folder not found");
        }
        var configPath = Require(path, ConfigFile, "the model's config");
        var config = DecoderConfig.Load(configPath);
        Require(path, TokenizerFile, "the tokenizer");
        Require(path, TokenizerConfigFile, "the tokenizer's settings");
        return new ModelFolder(path, config, OpenWeights(path));
    }

    static string Require(string folder, string name, string what)
    {
        var file = System.IO.Path.Combine(folder, name);
        if (!File.Exists(file))
        {
            throw new InvalidInputException(file, $"missing: {what} ({name}) is required in a model folder");
        }
        return file;
    }

    static Dictionary<string, SafetensorsFile> OpenWeights(string folder)
    {
        var single = System.IO.Path.Combine(folder, SingleWeightsFile);
        var index = System.IO.Path.Combine(folder, WeightsIndexFile);
        var map = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        if (File.Exists(index))
        {
            var shards = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var (tensor, shard) in ReadWeightMap(index))
            {
                if (!shards.TryGetValue(shard, out var file))
                {
                    var shardPath = System.IO.Path.Combine(folder, shard);
                    if (!File.Exists(shardPath))
                    {
                        throw new InvalidInputException(index, $"names shard '{shard}' (for '{tensor}'), which is not in the folder", field: "weight_map");
                    }
                    file = SafetensorsFile.Open(shardPath);
                    shards[shard] = file;
                }
                if (!file.Entries.ContainsKey(tensor))
                {
                    throw new InvalidInputException(file.Path, $"the index puts '{tensor}' here, but the file has no such tensor");
                }
                map[tensor] = file;
            }
            return map;
        }
        if (File.Exists(single))
        {
            var file = SafetensorsFile.Open(single);
            foreach (var name in file.Entries.Keys)
            {
                map[name] = file;
            }
            return map;
        }
        var pickles = Directory.EnumerateFiles(folder, "*.bin").Concat(Directory.EnumerateFiles(folder, "*.pt")).Any();
        throw new InvalidInputException(folder, pickles
            ? $"no safetensors weights ({SingleWeightsFile} or {WeightsIndexFile}); pickle checkpoints (.bin, .pt) are never loaded"
            : $"no weights: expected {SingleWeightsFile} or {WeightsIndexFile}");
    }

    internal static IEnumerable<KeyValuePair<string, string>> ReadWeightMap(string index)
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
}
