using Activations.Contracts;
using Activations.Worker.Capture;
using Microsoft.Extensions.DependencyInjection;

namespace Activations.TestHooks;

/// <summary>
/// The fault tests' poison: a batch holding a question that contains <see cref="TextVariable"/>'s text throws, as a
/// worker bug or a bad input that crashes the engine would. Everything else goes to the real engine.
/// </summary>
public sealed class PoisonedEngineHost(IEngineHost inner, string poison) : EngineHostDecorator(inner)
{
    public const string TextVariable = "ACTIVATIONS_TEST_POISON_TEXT";

    /// <summary>Wraps the container's <see cref="IEngineHost"/>, when it has one.</summary>
    public static void Decorate(IServiceCollection services, string poison) => Decorate(services, inner => new PoisonedEngineHost(inner, poison));

    public override IReadOnlyList<QuestionCapture> Capture(IReadOnlyList<string> questions, CaptureSpec spec, int batchSize)
    {
        if (questions.Any(q => q.Contains(poison, StringComparison.Ordinal)))
        {
            throw new InvalidOperationException($"the engine failed on a question containing '{poison}' ({TextVariable} is set)");
        }
        return base.Capture(questions, spec, batchSize);
    }
}
