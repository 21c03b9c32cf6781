using Activations.Contracts;
using Activations.Worker.Capture;
using Microsoft.Extensions.DependencyInjection;

namespace Activations.TestHooks;

/// <summary>
/// The fault tests' poison: a batch holding a question that contains <see cref="TextVariable"/>'s text throws, as a
/// worker bug or a bad input that crashes the engine would. Everything else goes to the real engine.
/// </summary>
public sealed class PoisonedEngineHost(IEngineHost inner, string poison) : IEngineHost
{
    public const string TextVariable = "ACTIVATIONS_TEST_POISON_TEXT";

    /// <summary>Wraps the container's <see cref="IEngineHost"/>, when it has one.</summary>
    public static void Decorate(IServiceCollection services, string poison)
    {
        var original = services.LastOrDefault(d => d.ServiceType == typeof(IEngineHost));
        if (original?.ImplementationFactory is not { } factory)
        {
            return;
        }
        services.Remove(original);
        services.AddSingleton<IEngineHost>(sp => new PoisonedEngineHost((IEngineHost)factory(sp), poison));
    }

    public string Fingerprint => inner.Fingerprint;

    public bool IsLoaded => inner.IsLoaded;

    public long ForwardPasses => inner.ForwardPasses;

    public ComputeTarget? Target => inner.Target;

    public CaptureSpec Check(CaptureSpec spec) => inner.Check(spec);

    public void Preload(CaptureSpec spec) => inner.Preload(spec);

    public IReadOnlyList<QuestionCapture> Capture(IReadOnlyList<string> questions, CaptureSpec spec, int batchSize)
    {
        if (questions.Any(q => q.Contains(poison, StringComparison.Ordinal)))
        {
            throw new InvalidOperationException($"the engine failed on a question containing '{poison}' ({TextVariable} is set)");
        }
        return inner.Capture(questions, spec, batchSize);
    }
}
