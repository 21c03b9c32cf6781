using Activations.Contracts;
using Activations.Worker.Capture;
using Microsoft.Extensions.DependencyInjection;

namespace Activations.TestHooks;

/// <summary>A test fault around the real engine: everything goes to <paramref name="inner"/> but what a subclass overrides.</summary>
public abstract class EngineHostDecorator(IEngineHost inner) : IEngineHost
{
    /// <summary>Wraps the container's <see cref="IEngineHost"/> with <paramref name="wrap"/>, when it has one.</summary>
    public static void Decorate(IServiceCollection services, Func<IEngineHost, IEngineHost> wrap)
    {
        var original = services.LastOrDefault(d => d.ServiceType == typeof(IEngineHost));
        if (original?.ImplementationFactory is not { } factory)
        {
            return;
        }
        services.Remove(original);
        services.AddSingleton(sp => wrap((IEngineHost)factory(sp)));
    }

    public string Fingerprint => inner.Fingerprint;

    public bool IsLoaded => inner.IsLoaded;

    public long ForwardPasses => inner.ForwardPasses;

    public ComputeTarget? Target => inner.Target;

    public CaptureSpec Check(CaptureSpec spec) => inner.Check(spec);

    public void Preload(CaptureSpec spec) => inner.Preload(spec);

    public virtual IReadOnlyList<QuestionCapture> Capture(IReadOnlyList<string> questions, CaptureSpec spec, int batchSize)
        => inner.Capture(questions, spec, batchSize);
}
