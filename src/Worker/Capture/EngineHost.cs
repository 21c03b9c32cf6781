using Activations.Contracts;
using Activations.Worker.Loading;
using Microsoft.Extensions.Logging;

namespace Activations.Worker.Capture;

/// <summary>
/// A worker's one model on its one device. The engine is loaded for the first job's dtype and depth, and
/// reloaded only when a job needs a deeper layer or another dtype. One forward pass at a time.
/// </summary>
/// <param name="fingerprint">the folder's <see cref="ModelFingerprint"/> when the caller has it already</param>
/// <param name="tokenBudget">padded tokens per forward pass (the worker's option); null: the device's default</param>
public sealed class EngineHost(ModelFolder folder, ComputeDevice device, ILogger<EngineHost> logger, string? fingerprint = null, int? tokenBudget = null) : IEngineHost, IDisposable
{
    readonly Lock gate = new();
    ActivationEngine? engine;
    ComputeDtype loadedDtype;

    public ModelFolder Folder => folder;

    public string Fingerprint { get; } = fingerprint ?? ModelFingerprint.Compute(folder);

    /// <summary>Whether a model is loaded (readiness).</summary>
    public bool IsLoaded => Volatile.Read(ref engine) is not null;

    /// <summary>Forward passes run by every engine this host has held.</summary>
    public long ForwardPasses { get; private set; }

    public ComputeTarget? Target => engine?.Target;

    /// <summary>Loads the engine for <paramref name="settings"/> now, rather than on the first batch.</summary>
    public void Preload(CaptureSettings settings)
    {
        lock (gate)
        {
            EnsureEngine(settings);
        }
    }

    public IReadOnlyList<QuestionCapture> Capture(IReadOnlyList<string> questions, CaptureSettings settings, int batchSize)
    {
        lock (gate)
        {
            var current = EnsureEngine(settings);
            var before = current.ForwardPasses;
            var result = current.Capture(questions, settings, batchSize);
            ForwardPasses += current.ForwardPasses - before;
            return result;
        }
    }

    ActivationEngine EnsureEngine(CaptureSettings settings)
    {
        var deepest = settings.Layers.Max();
        if (engine is not null && engine.LayerCount > deepest && loadedDtype == settings.Dtype)
        {
            return engine;
        }
        if (engine is not null)
        {
            logger.LogInformation("Reloading the model: the job needs layer {Layer} in {Dtype}", deepest, OptionNames.Of(settings.Dtype));
            engine.Dispose();
            engine = null;
        }
        var loaded = ActivationEngine.Load(folder, settings with { Device = device }, logger, tokenBudget);
        loadedDtype = settings.Dtype;
        Volatile.Write(ref engine, loaded);
        return loaded;
    }

    public void Dispose() => engine?.Dispose();
}
