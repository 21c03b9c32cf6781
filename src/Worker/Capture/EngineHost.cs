using Activations.Contracts;
using Activations.Worker.Loading;
using Activations.ServiceDefaults;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Activations.Worker.Capture;

/// <summary>
/// A worker's one model on its device (or split over its device list). The engine is loaded for the first job's dtype and depth, and
/// reloaded only when a job needs a deeper layer or another dtype. One forward pass at a time.
/// </summary>
/// <param name="fingerprint">the folder's <see cref="ModelFingerprint"/> when the caller has it already</param>
/// <param name="tokenBudget">padded tokens per forward pass (the worker's option); null: the device's default</param>
public sealed class EngineHost(ModelFolder folder, DeviceRequest devices, ILogger<EngineHost> logger, string? fingerprint = null, int? tokenBudget = null) : IEngineHost, IDisposable
{
    /// <summary>A host on one device kind (auto, cpu, cuda).</summary>
    public EngineHost(ModelFolder folder, ComputeDevice device, ILogger<EngineHost> logger, string? fingerprint = null)
        : this(folder, DeviceRequest.Of(device), logger, fingerprint)
    {
    }

    readonly Lock gate = new();
    ActivationEngine? engine;

    public ModelFolder Folder => folder;

    public string Fingerprint { get; } = fingerprint ?? ModelFingerprint.Compute(folder);

    /// <summary>Whether a model is loaded (readiness).</summary>
    public bool IsLoaded => Volatile.Read(ref engine) is not null;

    /// <summary>Forward passes run by every engine this host has held.</summary>
    public long ForwardPasses { get; private set; }

    public ComputeTarget? Target => engine?.Target;

    /// <summary>
    /// The checks a job's spec must pass before this host touches its model: <see cref="CaptureSpec.Validate"/> against
    /// the model's depth, and the device kind the job was resolved for is this host's.
    /// </summary>
    public CaptureSpec Check(CaptureSpec spec)
    {
        spec.Validate(folder.Config.NumHiddenLayers, folder.Path);
        var kind = ComputeTarget.ResolveKind(devices.Kind, ComputeDtype.Float32, logger).Kind;
        if (spec.Device != ComputeDevice.Auto && spec.Device != kind)
        {
            throw new InvalidInputException("--device", $"the job computes on {OptionNames.Of(spec.Device)}, this worker on {OptionNames.Of(kind)}: run the coordinator with --device {OptionNames.Of(kind)} for this worker");
        }
        return spec with { Device = kind };
    }

    /// <summary>Loads the engine for <paramref name="spec"/> now, rather than on the first batch.</summary>
    public void Preload(CaptureSpec spec)
    {
        lock (gate)
        {
            EnsureEngine(Check(spec));
        }
    }

    public IReadOnlyList<QuestionCapture> Capture(IReadOnlyList<string> questions, CaptureSpec spec, int batchSize)
    {
        var checkedSpec = Check(spec);
        // A second batch in hand waits here while the first computes: its own span, so the batch's cost leaves it out.
        var waiting = ActivationsTelemetry.Source.StartActivity("wait for engine");
        gate.Enter();
        waiting?.Dispose();
        try
        {
            var current = EnsureEngine(checkedSpec);
            var before = current.ForwardPasses;
            var result = current.Capture(questions, checkedSpec, batchSize);
            ForwardPasses += current.ForwardPasses - before;
            return result;
        }
        finally
        {
            gate.Exit();
        }
    }

    ActivationEngine EnsureEngine(CaptureSpec spec)
    {
        // Quiet here (every batch): loading resolves again and says once what it changed.
        var dtype = ComputeTarget.ResolveKind(spec.Device, spec.Dtype, NullLogger.Instance).Dtype;
        if (engine is not null && engine.LayerCount >= spec.LayersNeeded && engine.Target.ComputeDtype == dtype)
        {
            return engine;
        }
        if (engine is not null)
        {
            logger.LogInformation("Reloading the model: the job needs {Layers} layers in {Dtype}", spec.LayersNeeded, OptionNames.Of(spec.Dtype));
            engine.Dispose();
            engine = null;
        }
        var loaded = ActivationEngine.Load(folder, spec, logger, devices, tokenBudget);
        Volatile.Write(ref engine, loaded);
        return loaded;
    }

    public void Dispose() => engine?.Dispose();
}
