using Activations.Contracts;

namespace Activations.Worker.Capture;

/// <summary>
/// What the consumer, the preload and the health check need from a worker's one model on its one device
/// (<see cref="EngineHost"/>). An interface so that a host can decorate it through DI (the fault tests do).
/// </summary>
public interface IEngineHost
{
    /// <summary>The model's fingerprint: the worker answers only questions for it.</summary>
    string Fingerprint { get; }

    /// <summary>Whether a model is loaded (readiness).</summary>
    bool IsLoaded { get; }

    /// <summary>Forward passes run so far.</summary>
    long ForwardPasses { get; }

    /// <summary>The device and dtype of the loaded engine; null before the first load.</summary>
    ComputeTarget? Target { get; }

    /// <summary>
    /// The checks a job's spec must pass before the model is touched (<see cref="CaptureSpec.Validate"/> against the
    /// model, the device kind); returns the spec for this host's device, or throws <see cref="InvalidInputException"/>.
    /// </summary>
    CaptureSpec Check(CaptureSpec spec);

    /// <summary>Loads the engine for <paramref name="spec"/> now, rather than on the first batch.</summary>
    void Preload(CaptureSpec spec);

    IReadOnlyList<QuestionCapture> Capture(IReadOnlyList<string> questions, CaptureSpec spec, int batchSize);
}
