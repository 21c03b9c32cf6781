using Activations.Contracts;
using Activations.Worker.Model;

namespace Activations.Worker.Loading;

/// <summary>
/// A Hugging Face model folder, checked up front against <see cref="ModelFolderLayout"/>: config.json for a supported decoder (Qwen2, Llama, Qwen3)
/// model, the tokenizer files, and safetensors weights (one file, or shards listed in the index).
/// </summary>
public sealed class ModelFolder
{
    readonly Dictionary<string, SafetensorsFile> tensorFiles;

    ModelFolder(string path, DecoderConfig config, Dictionary<string, SafetensorsFile> tensorFiles)
    {
        Path = path;
        Config = config;
        this.tensorFiles = tensorFiles;
    }

    public string Path { get; }

    public DecoderConfig Config { get; }

    public string ConfigPath => System.IO.Path.Combine(Path, ModelFolderLayout.ConfigFile);

    public string TokenizerPath => System.IO.Path.Combine(Path, ModelFolderLayout.TokenizerFile);

    public string TokenizerConfigPath => System.IO.Path.Combine(Path, ModelFolderLayout.TokenizerConfigFile);

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
        foreach (var required in ModelFolderLayout.RequiredFiles)
        {
            var file = System.IO.Path.Combine(path, required.Name);
            if (!File.Exists(file))
            {
                throw new InvalidInputException(file, $"missing: {required.What} ({required.Name}) is required in a model folder");
            }
        }
        var config = DecoderConfig.Load(System.IO.Path.Combine(path, ModelFolderLayout.ConfigFile));
        return new ModelFolder(path, config, OpenWeights(path));
    }

    static Dictionary<string, SafetensorsFile> OpenWeights(string folder)
    {
        var single = System.IO.Path.Combine(folder, ModelFolderLayout.SingleWeightsFile);
        var index = System.IO.Path.Combine(folder, ModelFolderLayout.WeightsIndexFile);
        var map = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        if (File.Exists(index))
        {
            var shards = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var (tensor, shard) in ModelFolderLayout.ReadWeightMap(index))
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
        throw new InvalidInputException(folder, ModelFolderLayout.NoWeights(pickles, "loaded"));
    }
}
