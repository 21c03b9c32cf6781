using System.Diagnostics;
using Activations.Contracts;
using Activations.Worker.Loading;
using Activations.Worker.Model;
using Activations.Worker.Tokenization;
using Activations.ServiceDefaults;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Capture;

/// <summary>What one question gave: its pooled vector for each requested hook, or why not.</summary>
public sealed record QuestionCapture(int TokenCount, IReadOnlyDictionary<HookPoint, float[]>? Vectors, string? Error)
{
    public bool Succeeded => Vectors is not null;
}

/// <summary>
/// The engine: questions in, pooled hook-point vectors out. Holds the model truncated after
/// <see cref="LayerCount"/> layers on one device in one dtype, tokenizes with the model's own tokenizer under each
/// request's BOS policy, runs right-padded micro-batches of similar lengths under a padded-token budget
/// (<see cref="TokenBudgetBatcher"/>), stops after the deepest layer a hook needs, and pools each hook on the device
/// over real tokens only.
/// </summary>
public sealed class ActivationEngine : IDisposable
{
    readonly IDecoderModel model;
    readonly QuestionTokenizer tokenizer;
    readonly ILogger logger;
    readonly bool ownsTokenizer;

    ActivationEngine(IDecoderModel model, QuestionTokenizer tokenizer, ComputeTarget target, long weightBytes, ILogger logger, bool ownsTokenizer, int? tokenBudget)
    {
        this.model = model;
        this.tokenizer = tokenizer;
        this.logger = logger;
        this.ownsTokenizer = ownsTokenizer;
        Target = target;
        WeightBytes = weightBytes;
        TokenBudget = tokenBudget ?? TokenBudgetBatcher.DefaultTokenBudget(target.Device.type);
    }

    public ComputeTarget Target { get; }

    public DecoderConfig Config => model.Config;

    /// <summary>Which device holds each layer.</summary>
    public LayerPlacement Placement => model.Placement;

    /// <summary>Layers held: requests may capture hooks of layers 0..LayerCount-1 (and hook_embed).</summary>
    public int LayerCount => model.LayerCount;

    public long WeightBytes { get; }

    /// <summary>Most padded tokens (rows × longest row) per forward pass; a longer question runs alone.</summary>
    public int TokenBudget { get; }

    /// <summary>Forward passes run so far (one per micro-batch).</summary>
    public long ForwardPasses { get; private set; }

    /// <summary>Token positions computed so far, padding included.</summary>
    public long PaddedTokens { get; private set; }

    /// <summary>Real (question) tokens computed so far.</summary>
    public long RealTokens { get; private set; }

    /// <summary>
    /// Validates <paramref name="spec"/> against the model, then loads the tokenizer and the layers up to the deepest
    /// one a hook needs, on <paramref name="devices"/> (default: the spec's device kind). Before reading a weight it
    /// checks that the layers fit in the devices' free memory at the compute dtype, and splits them over a device list.
    /// </summary>
    /// <param name="tokenBudget">padded tokens per forward pass; null: the device's default (<see cref="TokenBudgetBatcher.DefaultTokenBudget"/>)</param>
    public static ActivationEngine Load(ModelFolder folder, CaptureSpec spec, ILogger logger, DeviceRequest? devices = null, int? tokenBudget = null)
    {
        spec.Validate(folder.Config.NumHiddenLayers, folder.Path);
        var target = ComputeTarget.Resolve(devices ?? DeviceRequest.Of(spec.Device), spec.Dtype, logger);
        if (folder.Config.RopeScaling is YarnRopeScaling { UnrecognizedKeys.Count: > 0 } yarn)
        {
            logger.LogWarning("{Config}: rope_scaling keys {Keys} are not read (Hugging Face's _compute_yarn_parameters ignores them too)",
                folder.ConfigPath, string.Join(", ", yarn.UnrecognizedKeys));
        }
        var tokenizer = QuestionTokenizer.Load(folder.TokenizerPath, folder.TokenizerConfigPath);
        try
        {
            if (spec.BosPolicy == BosPolicy.Bos && tokenizer.BosTokenId is null)
            {
                throw new InvalidInputException(folder.TokenizerConfigPath, "the BOS policy is bos (--prepend-bos, or the family's default), but the tokenizer has no BOS token", field: "bos_token");
            }
            var layerCount = spec.LayersNeeded;
            var placement = Place(folder.Config, layerCount, target, logger);
            var weights = new SafetensorsWeightSource(folder, target.Dtype, target.Device);
            var clock = Stopwatch.StartNew();
            var model = DecoderModel.Build(folder.Config, weights, layerCount, onLayerLoaded: i =>
                logger.LogDebug("Loaded layer {Layer} of {LayerCount}", i + 1, layerCount), placement: placement);
            logger.LogInformation("Loaded {LayerCount} of {TotalLayers} layers of {Architecture} from {Folder} in {Seconds:F1} s: {Megabytes:F0} MB of {Dtype} weights on {Placement}",
                layerCount, folder.Config.NumHiddenLayers, folder.Config.Family.ArchitectureOf(), folder.Path, clock.Elapsed.TotalSeconds, weights.BytesLoaded / 1e6, target.DtypeName, placement);
            return new ActivationEngine(model, tokenizer, target, weights.BytesLoaded, logger, ownsTokenizer: true, tokenBudget);
        }
        catch
        {
            tokenizer.Dispose();
            throw;
        }
    }

    /// <summary>The layers' devices, after checking that their weights fit (refused with the numbers when not).</summary>
    static LayerPlacement Place(DecoderConfig config, int layerCount, ComputeTarget target, ILogger logger)
    {
        var elementSize = target.Dtype == ScalarType.Float32 ? 4L : 2L;
        var budgets = DeviceMemory.Budgets(target.Devices);
        if (budgets is null)
        {
            logger.LogWarning("The free memory of {Devices} cannot be read (no CUDA runtime or NVML library found): the layers are split evenly, unchecked", target.DeviceName);
            budgets = target.Devices.Select(d => new DeviceBudget(d, long.MaxValue / (2 * target.Devices.Count))).ToArray();
        }
        var placement = LayerPlacement.Plan(config.EmbeddingParameterCount * elementSize, config.LayerParameterCount * elementSize, layerCount, 0, budgets, target.DtypeName);
        if (target.Devices.Count > 1)
        {
            logger.LogInformation("Placing the layers over {Devices}: {Placement}", target.DeviceName, placement);
        }
        return placement;
    }

    /// <summary>Wraps an already built model (benchmarks with random weights of the real shapes).</summary>
    public static ActivationEngine FromModel(IDecoderModel model, QuestionTokenizer tokenizer, long weightBytes, ILogger logger, bool ownsTokenizer = true, int? tokenBudget = null)
        => new(model, tokenizer, new ComputeTarget(model.Device, model.Dtype) { Devices = model.Placement.Devices }, weightBytes, logger, ownsTokenizer, tokenBudget);

    /// <summary>The longest model input accepted under <paramref name="spec"/>.</summary>
    public int MaxTokens(CaptureSpec spec) => Math.Min(spec.MaxTokens ?? int.MaxValue, model.Config.MaxPositionEmbeddings);

    public int[] Tokenize(string question, BosPolicy policy) => tokenizer.Encode(question, policy);

    /// <summary>
    /// Captures every question under <paramref name="spec"/> (hooks, pooling, BOS policy, token limit).
    /// Questions run in micro-batches of similar lengths, at most <paramref name="batchSize"/> questions and
    /// <see cref="TokenBudget"/> padded tokens each (<see cref="TokenBudgetBatcher"/>); results come back in the
    /// input order. A question over the token limit fails alone.
    /// </summary>
    public IReadOnlyList<QuestionCapture> Capture(IReadOnlyList<string> questions, CaptureSpec spec, int batchSize)
    {
        using var tokenizing = ActivationsTelemetry.Source.StartActivity("tokenize");
        tokenizing?.SetTag("activations.questions", questions.Count);
        var inputs = questions.Select(q => Tokenize(q, spec.BosPolicy)).ToArray();
        tokenizing?.SetTag("activations.token_count", inputs.Sum(i => i.Length));
        tokenizing?.Dispose();
        return CaptureTokenized(inputs, spec, batchSize);
    }

    /// <summary>
    /// <see cref="Capture"/> for model inputs already tokenized under <paramref name="spec"/>'s BOS policy (each a
    /// question's ids, the BOS included where the policy puts it).
    /// </summary>
    public IReadOnlyList<QuestionCapture> CaptureTokenized(IReadOnlyList<int[]> inputs, CaptureSpec spec, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (spec.Hooks.Count == 0 || spec.LayersNeeded > model.LayerCount)
        {
            throw new ArgumentException($"the engine holds layers 0..{model.LayerCount - 1}; asked for {string.Join(", ", spec.Hooks)}");
        }
        var maxTokens = MaxTokens(spec);
        var results = new QuestionCapture?[inputs.Count];
        var runnable = new List<(int Index, int[] Ids)>();
        for (var i = 0; i < inputs.Count; i++)
        {
            var ids = inputs[i];
            if (ids.Length == 0)
            {
                results[i] = new QuestionCapture(0, null, "the question has no tokens");
            }
            else if (ids.Length > maxTokens)
            {
                results[i] = new QuestionCapture(ids.Length, null, $"the question has {ids.Length} tokens, more than the limit of {maxTokens}");
            }
            else
            {
                runnable.Add((i, ids));
            }
        }
        var batcher = new TokenBudgetBatcher(batchSize, TokenBudget);
        foreach (var rows in batcher.Plan(runnable.Select(t => t.Ids.Length).ToArray()))
        {
            var chunk = rows.Select(r => runnable[r]).ToArray();
            var vectors = RunBatch(chunk.Select(c => c.Ids).ToArray(), spec);
            for (var row = 0; row < chunk.Length; row++)
            {
                results[chunk[row].Index] = new QuestionCapture(chunk[row].Ids.Length, vectors[row], null);
            }
        }
        return results!;
    }

    /// <summary>One forward pass over right-padded rows; returns each row's pooled vector per hook.</summary>
    Dictionary<HookPoint, float[]>[] RunBatch(int[][] rows, CaptureSpec spec)
    {
        var batch = rows.Length;
        var length = rows.Max(r => r.Length);
        var tokens = rows.Sum(r => r.Length);
        using var span = ActivationsTelemetry.Source.StartActivity("forward");
        span?.SetTag("activations.batch_size", batch);
        span?.SetTag("activations.token_count", tokens);
        span?.SetTag("activations.padded_length", length);
        span?.SetTag("activations.device", Target.DeviceName);
        span?.SetTag("activations.dtype", Target.DtypeName);
        var clock = Stopwatch.StartNew();
        var padded = new long[batch * length];
        var lengths = new long[batch];
        for (var r = 0; r < batch; r++)
        {
            lengths[r] = rows[r].Length;
            for (var t = 0; t < rows[r].Length; t++)
            {
                padded[r * length + t] = rows[r][t];
            }
        }
        using var scope = torch.NewDisposeScope();
        var ids = torch.tensor(padded, [batch, length], ScalarType.Int64);
        // No key-padding mask: rows are right-padded and attention is causal, so a real token never reads a padded
        // position, and pooling reads real positions only. Causal-only attention takes the fused kernels' fastest path.
        using var hooks = new PoolingHookSink(spec.Hooks, lengths, spec.Pooling, leadingBos: spec.BosPolicy == BosPolicy.Bos);
        model.Forward(ids, hooks);
        var output = hooks.Collect();
        ForwardPasses++;
        PaddedTokens += (long)batch * length;
        RealTokens += tokens;
        ActivationsTelemetry.ForwardDuration.Record(clock.Elapsed.TotalSeconds);
        ActivationsTelemetry.BatchSize.Record(batch);
        ActivationsTelemetry.Tokens.Add(tokens);
        logger.LogDebug("Forward pass: {BatchSize} questions, {Tokens} tokens padded to {Length}", batch, tokens, length);
        return output;
    }

    public void Dispose()
    {
        model.Dispose();
        if (ownsTokenizer)
        {
            tokenizer.Dispose();
        }
    }
}
