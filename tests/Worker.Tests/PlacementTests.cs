using Activations.Contracts;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Activations.Worker.Model;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Tests;

/// <summary>Big checkpoints: the layer placement over made-up device sizes, and a forward pass split over cpu,cpu.</summary>
public class PlacementTests
{
    const long GB = 1_000_000_000;

    static DeviceBudget Gpu(int index, double freeGb) => new(new Device(DeviceType.CUDA, index), (long)(freeGb * GB));

    static int[] Counts(LayerPlacement plan) => [.. Enumerable.Range(0, plan.Devices.Count).Select(d => plan.LayerDeviceIndices.Count(i => i == d))];

    [Fact]
    public void Layers_go_in_contiguous_ranges_in_proportion_to_free_memory()
    {
        // 1 GB embedding + 32 layers of 0.5 GB = 17 GB over 30 + 10 GB free: the first device's share is 3/4 (12.75 GB).
        var plan = LayerPlacement.Plan(1 * GB, GB / 2, 32, 0, [Gpu(0, 30), Gpu(1, 10)], "bfloat16");
        Assert.Equal([24, 8], Counts(plan));
        Assert.Equal([.. Enumerable.Repeat(0, 24), .. Enumerable.Repeat(1, 8)], plan.LayerDeviceIndices);
        Assert.Equal([13 * GB, 4 * GB], plan.BytesPerDevice);
        Assert.Equal("cuda:0 layers 0-23, cuda:1 layers 24-31", plan.ToString());
        Assert.Equal(DeviceType.CUDA, plan.EmbeddingDevice.type);
        Assert.Equal(0, plan.EmbeddingDevice.index);
    }

    [Fact]
    public void Equal_devices_share_the_bytes_not_the_layer_count()
    {
        // The embedding sits on the first device, so it takes fewer layers: 8.5 GB each side of 17.
        var plan = LayerPlacement.Plan(1 * GB, GB / 2, 32, 0, [Gpu(0, 20), Gpu(1, 20)], "bfloat16");
        Assert.Equal([15, 17], Counts(plan));
        var four = LayerPlacement.Plan(0, GB, 8, 0, [Gpu(0, 20), Gpu(1, 20), Gpu(2, 20), Gpu(3, 20)], "float16");
        Assert.Equal([2, 2, 2, 2], Counts(four));
    }

    [Fact]
    public void A_device_too_small_for_the_next_layer_is_passed_over()
    {
        var plan = LayerPlacement.Plan(1 * GB, 1 * GB, 18, 0, [Gpu(0, 10.2), Gpu(1, 0.4), Gpu(2, 10)], "float16");
        Assert.Equal([8, 0, 10], Counts(plan));
        Assert.Equal("cuda:0 layers 0-7, cuda:1 no layers, cuda:2 layers 8-17", plan.ToString());
    }

    [Fact]
    public void A_model_that_does_not_fit_is_refused_with_the_numbers_before_loading()
    {
        var error = Assert.Throws<InvalidInputException>(() => LayerPlacement.Plan(1 * GB, GB / 2, 32, 0, [Gpu(0, 8), Gpu(1, 8)], "bfloat16"));
        Assert.Equal("--device: the model does not fit: 32 layers need 17.00 GB at bfloat16 (embedding 1.00 GB, 0.50 GB per layer); free: cuda:0 8.00 GB, cuda:1 8.00 GB", error.Message);
        // Enough in total, but no device takes the last layers.
        error = Assert.Throws<InvalidInputException>(() => LayerPlacement.Plan(0, 3 * GB, 4, 0, [Gpu(0, 7), Gpu(1, 5.5)], "float16"));
        Assert.StartsWith("--device: the model does not fit: cuda:1 would hold 6.00 GB; 4 layers need 12.00 GB", error.Message);
        Assert.EndsWith("free: cuda:0 7.00 GB (planned 6.00 GB), cuda:1 5.50 GB (planned 6.00 GB)", error.Message);
    }

    [Fact]
    public void The_70B_needs_two_80GB_gpus_at_fp16()
    {
        // DeepSeek-R1-Distill-Llama-70B: hidden 8192, 80 layers, 64 heads, 8 kv heads, intermediate 28672, vocab 128256.
        var config = DecoderConfig.DeepSeekR1DistillLlama8B with { HiddenSize = 8192, NumHiddenLayers = 80, NumAttentionHeads = 64, IntermediateSize = 28672 };
        var layerBytes = config.LayerParameterCount * 2;
        var embeddingBytes = config.EmbeddingParameterCount * 2;
        Assert.InRange(embeddingBytes + 80 * layerBytes, 139 * GB, 141 * GB);
        Assert.Throws<InvalidInputException>(() => LayerPlacement.Plan(embeddingBytes, layerBytes, 80, 0, [Gpu(0, 79)], "float16"));
        var plan = LayerPlacement.Plan(embeddingBytes, layerBytes, 80, 0, [Gpu(0, 79), Gpu(1, 79)], "float16");
        Assert.Equal(80, Counts(plan).Sum());
        Assert.All(Counts(plan), c => Assert.InRange(c, 39, 41));
    }

    [Fact]
    public void Layer_sizes_come_from_the_config_for_each_family()
    {
        // Counted against the fixtures' own tensors: every tensor under model.layers.0.
        foreach (var model in new[] { Fixtures.ParityModel, FamilyParityTests.Llama.Model, FamilyParityTests.Qwen3.Model })
        {
            var folder = ModelFolder.Open(model);
            var layerZero = folder.TensorFiles.Where(p => p.Key.StartsWith("model.layers.0.", StringComparison.Ordinal))
                .Sum(p => p.Value.Entries[p.Key].Shape.Aggregate(1L, (a, b) => a * b));
            Assert.Equal(layerZero, folder.Config.LayerParameterCount);
            Assert.Equal(folder.TensorFiles["model.embed_tokens.weight"].Entries["model.embed_tokens.weight"].Shape.Aggregate(1L, (a, b) => a * b), folder.Config.EmbeddingParameterCount);
        }
    }

    [Theory]
    [InlineData("cpu,cpu", ComputeDevice.Cpu, new[] { "cpu", "cpu" })]
    [InlineData("cuda:0, cuda:1", ComputeDevice.Cuda, new[] { "cuda:0", "cuda:1" })]
    [InlineData("cuda:1", ComputeDevice.Cuda, new[] { "cuda:1" })]
    [InlineData("cuda", ComputeDevice.Cuda, new string[0])]
    [InlineData("auto", ComputeDevice.Auto, new string[0])]
    public void Device_lists_are_parsed_once(string text, ComputeDevice kind, string[] entries)
    {
        var request = DeviceRequest.Parse(text);
        Assert.Equal(kind, request.Kind);
        Assert.Equal(entries, request.Entries);
    }

    [Theory]
    [InlineData("cuda:0,cpu", "--device: 'cuda:0,cpu' mixes the CPU and CUDA devices: list devices of one kind")]
    [InlineData("cuda:x", "--device: unknown device 'cuda:x' in 'cuda:x': use auto, cpu, cuda, cuda:N, or a comma-separated list such as cuda:0,cuda:1")]
    [InlineData("tpu", "--device: unknown device 'tpu' in 'tpu': use auto, cpu, cuda, cuda:N, or a comma-separated list such as cuda:0,cuda:1")]
    public void Bad_device_lists_are_refused(string text, string message)
    {
        Assert.Equal(message, Assert.Throws<InvalidInputException>(() => DeviceRequest.Parse(text)).Message);
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("llama")]
    [InlineData("qwen3")]
    public void A_forward_pass_split_over_cpu_cpu_equals_the_unsplit_one_exactly(string name)
    {
        // Qwen2's 25 layers split about 11 / 14 (the embedding counts on the first device); the tiny Llama and
        // Qwen3 embeddings outweigh half their 8 layers, so every layer goes to the second device and the residual
        // stream moves before layer 0.
        var (model, hooks) = name == "qwen2"
            ? (Fixtures.ParityModel, Fixtures.ExpectedHooks.RootElement.GetProperty("hooks").EnumerateArray().Select(h => HookPoint.Parse(h.GetString()!)).ToArray())
            : (new FamilyParityTests.Family(name).Model, new FamilyParityTests.Family(name).Hooks);
        var spec = Fixtures.Spec(Pooling.Mean, BosPolicy.Bos, hooks: hooks);
        var folder = ModelFolder.Open(model);
        using var whole = ActivationEngine.Load(folder, spec, NullLogger.Instance);
        using var split = ActivationEngine.Load(folder, spec, NullLogger.Instance, DeviceRequest.Parse("cpu,cpu"));
        Assert.Equal(2, split.Placement.Devices.Count);
        Assert.Equal(2, split.Target.Devices.Count);
        Assert.Contains(1, split.Placement.LayerDeviceIndices);
        if (name == "qwen2")
        {
            Assert.Contains(0, split.Placement.LayerDeviceIndices);
        }
        Assert.Equal(split.Placement.LayerDeviceIndices.Order(), split.Placement.LayerDeviceIndices); // contiguous ranges

        var expected = whole.Capture(Fixtures.Questions, spec, batchSize: 5);
        var actual = split.Capture(Fixtures.Questions, spec, batchSize: 5);
        for (var q = 0; q < expected.Count; q++)
        {
            foreach (var hook in hooks)
            {
                Assert.Equal(expected[q].Vectors![hook], actual[q].Vectors![hook]);
            }
        }
    }

    [Fact]
    public void Cuda_devices_that_are_not_there_are_refused()
    {
        if (torch.cuda.is_available())
        {
            return;
        }
        var error = Assert.Throws<InvalidInputException>(() => ComputeTarget.Resolve(DeviceRequest.Parse("cuda:0,cuda:1"), ComputeDtype.Auto, NullLogger.Instance));
        Assert.Equal("--device: cuda:0,cuda:1 was asked for, but no CUDA device is available", error.Message);
    }
}

/// <summary>Sharded checkpoints: read shard by shard, tensor by tensor, with the same result as one file.</summary>
public class ShardedLoadingTests
{
    /// <summary>Writes the tensors of <paramref name="source"/> into shards (a new shard starting at each layer in <paramref name="firstLayers"/>) and an index.</summary>
    static void Shard(string source, string folder, int[] firstLayers)
    {
        var file = SafetensorsFile.Open(source);
        int ShardOf(string name)
        {
            var layer = name.StartsWith("model.layers.", StringComparison.Ordinal) ? int.Parse(name.Split('.')[2]) : name.StartsWith("model.embed", StringComparison.Ordinal) ? -1 : int.MaxValue;
            return firstLayers.Count(first => layer >= first);
        }
        var groups = file.Entries.GroupBy(e => ShardOf(e.Key)).OrderBy(g => g.Key).ToArray();
        var map = new System.Text.Json.Nodes.JsonObject();
        using var input = File.OpenRead(source);
        Span<byte> prefix = stackalloc byte[8];
        input.ReadExactly(prefix);
        var dataStart = 8 + BitConverter.ToInt64(prefix);
        for (var s = 0; s < groups.Length; s++)
        {
            var name = $"model-{s + 1:00000}-of-{groups.Length:00000}.safetensors";
            var header = new System.Text.Json.Nodes.JsonObject();
            long offset = 0;
            foreach (var (tensor, entry) in groups[s])
            {
                header[tensor] = new System.Text.Json.Nodes.JsonObject
                {
                    ["dtype"] = entry.Dtype,
                    ["shape"] = new System.Text.Json.Nodes.JsonArray([.. entry.Shape.Select(d => (System.Text.Json.Nodes.JsonNode)d)]),
                    ["data_offsets"] = new System.Text.Json.Nodes.JsonArray(offset, offset + entry.End - entry.Begin),
                };
                offset += entry.End - entry.Begin;
                map[tensor] = name;
            }
            var headerBytes = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
            using var output = File.Create(Path.Combine(folder, name));
            output.Write(BitConverter.GetBytes((long)headerBytes.Length));
            output.Write(headerBytes);
            foreach (var (_, entry) in groups[s])
            {
                var bytes = new byte[entry.End - entry.Begin];
                input.Position = dataStart + entry.Begin;
                input.ReadExactly(bytes);
                output.Write(bytes);
            }
        }
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), new System.Text.Json.Nodes.JsonObject { ["metadata"] = new System.Text.Json.Nodes.JsonObject(), ["weight_map"] = map }.ToJsonString());
    }

    [Fact]
    public void A_sharded_checkpoint_loads_shard_by_shard_with_the_same_vectors()
    {
        var family = FamilyParityTests.Qwen3;
        using var copy = new Fixtures.TempFolder();
        foreach (var file in new[] { "config.json", "tokenizer.json", "tokenizer_config.json" })
        {
            File.Copy(Path.Combine(family.Model, file), copy.File(file));
        }
        Shard(Path.Combine(family.Model, "model.safetensors"), copy.Path, [0, 3, 6]);
        var sharded = ModelFolder.Open(copy.Path);
        Assert.Equal(4, sharded.TensorFiles.Values.Distinct().Count());

        // bf16 on disk, float32 in memory: each tensor cast as it is read; the shards are visited in order, each once.
        var weights = new SafetensorsWeightSource(sharded, ScalarType.Float32, CPU);
        using (var model = DecoderModel.Build(sharded.Config, weights, sharded.Config.NumHiddenLayers))
        {
            var visits = weights.NamesRead.Select(n => sharded.TensorFiles[n].Path).Aggregate(new List<string>(), (list, path) =>
            {
                if (list.Count == 0 || list[^1] != path)
                {
                    list.Add(path);
                }
                return list;
            });
            Assert.Equal(visits.Distinct().Count(), visits.Count);
            Assert.Equal(4, visits.Count);
        }

        var spec = Fixtures.Spec(Pooling.Mean, BosPolicy.Bos, hooks: family.Hooks);
        using var whole = Fixtures.Engine(spec, family.Model);
        using var fromShards = ActivationEngine.Load(sharded, spec, NullLogger.Instance);
        var expected = whole.Capture(family.Questions, spec, 6);
        var actual = fromShards.Capture(family.Questions, spec, 6);
        for (var q = 0; q < expected.Count; q++)
        {
            foreach (var hook in family.Hooks)
            {
                Assert.Equal(expected[q].Vectors![hook], actual[q].Vectors![hook]);
            }
        }
    }
}
