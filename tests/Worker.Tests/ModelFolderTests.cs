using System.Text.Json.Nodes;
using Activations.Contracts;
using Activations.Worker.Loading;
using Activations.Worker.Model;
using TorchSharp;

namespace Activations.Worker.Tests;

/// <summary>The loader refuses bad model folders with messages that say what is wrong and where.</summary>
public class ModelFolderTests
{
    static Fixtures.TempFolder CopyOfParityModel()
    {
        var temp = new Fixtures.TempFolder();
        foreach (var file in Directory.GetFiles(Fixtures.ParityModel))
        {
            File.Copy(file, temp.File(Path.GetFileName(file)));
        }
        return temp;
    }

    /// <summary>Renames model.safetensors to <paramref name="shard"/> and writes an index that maps each tensor with <paramref name="shardOf"/>.</summary>
    static void ShardIndex(Fixtures.TempFolder model, string shard, Func<string, string> shardOf)
    {
        File.Move(model.File("model.safetensors"), model.File(shard));
        var map = new JsonObject();
        foreach (var name in SafetensorsFile.Open(model.File(shard)).Entries.Keys)
        {
            map[name] = shardOf(name);
        }
        File.WriteAllText(model.File("model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
    }

    [Fact]
    public void Opens_the_parity_model()
    {
        var folder = ModelFolder.Open(Fixtures.ParityModel);
        Assert.Equal(28, folder.Config.NumHiddenLayers);
        Assert.Equal(48, folder.Config.HiddenSize);
        Assert.Equal(2, folder.Config.NumKeyValueHeads);
        Assert.Equal(12, folder.Config.HeadDim);
        Assert.Equal(10000, folder.Config.RopeTheta);
        Assert.Equal(339, folder.TensorFiles.Count);
    }

    [Fact]
    public void A_missing_folder_is_named()
    {
        var error = Assert.Throws<InvalidInputException>(() => ModelFolder.Open("/nonexistent/model"));
        Assert.Equal("/nonexistent/model: model folder not found", error.Message);
    }

    [Theory]
    [InlineData("config.json", "the model's config")]
    [InlineData("tokenizer.json", "the tokenizer")]
    [InlineData("tokenizer_config.json", "the tokenizer's settings")]
    public void A_missing_file_is_named(string file, string what)
    {
        using var model = CopyOfParityModel();
        File.Delete(model.File(file));
        var error = Assert.Throws<InvalidInputException>(() => ModelFolder.Open(model.Path));
        Assert.Equal($"{model.File(file)}: missing: {what} ({file}) is required in a model folder", error.Message);
    }

    [Fact]
    public void Another_architecture_is_refused()
    {
        using var model = CopyOfParityModel();
        var config = JsonNode.Parse(File.ReadAllText(model.File("config.json")))!.AsObject();
        config["architectures"] = new JsonArray("GPT2LMHeadModel");
        config["model_type"] = "gpt2";
        File.WriteAllText(model.File("config.json"), config.ToJsonString());
        var error = Assert.Throws<InvalidInputException>(() => ModelFolder.Open(model.Path));
        Assert.Equal($"{model.File("config.json")}: field 'architectures': unsupported architecture 'GPT2LMHeadModel': supported are Qwen2ForCausalLM (qwen2), LlamaForCausalLM (llama), Qwen3ForCausalLM (qwen3)", error.Message);
    }

    [Fact]
    public void No_weights_is_refused_and_pickles_are_never_loaded()
    {
        using var model = CopyOfParityModel();
        File.Delete(model.File("model.safetensors"));
        var error = Assert.Throws<InvalidInputException>(() => ModelFolder.Open(model.Path));
        Assert.Equal($"{model.Path}: no weights: expected model.safetensors or model.safetensors.index.json", error.Message);

        File.WriteAllBytes(model.File("pytorch_model.bin"), [0x80, 0x02]);
        error = Assert.Throws<InvalidInputException>(() => ModelFolder.Open(model.Path));
        Assert.Contains("pickle checkpoints (.bin, .pt) are never loaded", error.Message);
    }

    [Fact]
    public void A_shard_index_naming_a_missing_shard_is_refused()
    {
        using var model = CopyOfParityModel();
        ShardIndex(model, "model-00001-of-00002.safetensors", name => name.StartsWith("model.layers.2", StringComparison.Ordinal) ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors");
        var error = Assert.Throws<InvalidInputException>(() => ModelFolder.Open(model.Path));
        Assert.StartsWith($"{model.File("model.safetensors.index.json")}: field 'weight_map': names shard 'model-00002-of-00002.safetensors' (for 'model.layers.2", error.Message);
        Assert.EndsWith("which is not in the folder", error.Message);
    }

    [Fact]
    public void A_sharded_model_loads_from_its_index()
    {
        using var model = CopyOfParityModel();
        ShardIndex(model, "model-00001-of-00001.safetensors", _ => "model-00001-of-00001.safetensors");
        Assert.Equal(339, ModelFolder.Open(model.Path).TensorFiles.Count);
    }

    [Fact]
    public void A_truncated_safetensors_file_is_refused()
    {
        using var model = CopyOfParityModel();
        var path = model.File("model.safetensors");
        var full = new FileInfo(path).Length;
        using (var stream = new FileStream(path, FileMode.Open))
        {
            stream.SetLength(full / 2);
        }
        var error = Assert.Throws<InvalidInputException>(() => ModelFolder.Open(model.Path));
        Assert.StartsWith($"{path}: truncated safetensors file: tensor '", error.Message);
        Assert.EndsWith($"the file has {full / 2}", error.Message);

        using (var stream = new FileStream(path, FileMode.Open))
        {
            stream.SetLength(5);
        }
        error = Assert.Throws<InvalidInputException>(() => ModelFolder.Open(model.Path));
        Assert.Equal($"{path}: truncated safetensors file: 5 bytes, too short for a header", error.Message);
    }

    [Fact]
    public void Only_the_layers_up_to_the_deepest_requested_are_read()
    {
        var folder = ModelFolder.Open(Fixtures.ParityModel);
        var weights = new SafetensorsWeightSource(folder, torch.ScalarType.Float32, torch.CPU);
        using var model = DecoderModel.Build(folder.Config, weights, layerCount: 13);
        Assert.Contains("model.layers.12.mlp.down_proj.weight", weights.NamesRead);
        Assert.DoesNotContain(weights.NamesRead, n => n.StartsWith("model.layers.13.", StringComparison.Ordinal));
        Assert.DoesNotContain("model.norm.weight", weights.NamesRead);
        Assert.DoesNotContain("lm_head.weight", weights.NamesRead);
        Assert.Equal(1 + 13 * 12, weights.NamesRead.Count);
        Assert.Equal(weights.NamesRead.Count, weights.NamesRead.Distinct().Count());
        // bf16 on disk, cast to float32 as read.
        Assert.Equal(folder.TensorFiles.Where(p => weights.NamesRead.Contains(p.Key)).Sum(p => (p.Value.Entries[p.Key].End - p.Value.Entries[p.Key].Begin) * 2), weights.BytesLoaded);
    }

    [Fact]
    public void Hooks_outside_the_model_are_refused_before_anything_loads()
    {
        var error = Assert.Throws<InvalidInputException>(() => Fixtures.Engine(Fixtures.Spec(layers: [6, 28])));
        Assert.Equal($"--hooks: blocks.28.hook_resid_post: layer 28 is outside the model ({Fixtures.ParityModel} has layers 0..27)", error.Message);
        error = Assert.Throws<InvalidInputException>(() => Fixtures.Engine(Fixtures.Spec(layers: [])));
        Assert.Equal("--hooks: no hooks were asked for", error.Message);
    }
}
