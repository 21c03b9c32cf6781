using System.Diagnostics;
using Activations.Contracts;
using Activations.Worker.Capture;
using Microsoft.Extensions.DependencyInjection;

namespace Activations.TestHooks;

/// <summary>
/// The crash test's fault: the process kills itself (SIGKILL, as the kernel's OOM killer or a native crash would end
/// it) whenever the engine is about to compute a question containing <see cref="TextVariable"/>'s text. The worker's
/// own rules decide whether that happens: a redelivered question is moved to isolation, not computed, and one at the
/// death limit is answered as failed without being computed.
/// </summary>
public sealed class DyingEngineHost(IEngineHost inner, string text) : EngineHostDecorator(inner)
{
    public const string TextVariable = "ACTIVATIONS_TEST_DIE_ON";

    /// <summary>What the process writes to stderr before it dies (the test counts the deaths by it).</summary>
    public const string DyingLine = "test worker: dying on a question";

    /// <summary>Wraps the container's <see cref="IEngineHost"/>, when it has one.</summary>
    public static void Decorate(IServiceCollection services, string text) => Decorate(services, inner => new DyingEngineHost(inner, text));

    public override IReadOnlyList<QuestionCapture> Capture(IReadOnlyList<string> questions, CaptureSpec spec, int batchSize)
    {
        if (questions.Any(q => q.Contains(text, StringComparison.Ordinal)))
        {
            Console.Error.WriteLine($"{DyingLine} ({questions.Count} in the batch)");
            Console.Error.Flush();
            Process.GetCurrentProcess().Kill();
        }
        return base.Capture(questions, spec, batchSize);
    }
}
