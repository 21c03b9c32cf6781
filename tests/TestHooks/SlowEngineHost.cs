using System.Globalization;
using Activations.Contracts;
using Activations.Worker.Capture;
using Microsoft.Extensions.DependencyInjection;

namespace Activations.TestHooks;

/// <summary>
/// A slow device: every batch takes <see cref="DelayVariable"/> milliseconds longer, so a test can act while a batch is
/// certainly in hand (a stop that must not take new deliveries while it finishes one).
/// </summary>
public sealed class SlowEngineHost(IEngineHost inner, TimeSpan delay) : EngineHostDecorator(inner)
{
    public const string DelayVariable = "ACTIVATIONS_TEST_BATCH_DELAY_MS";

    /// <summary>Wraps the container's <see cref="IEngineHost"/>, when it has one.</summary>
    public static void Decorate(IServiceCollection services, string milliseconds)
        => Decorate(services, inner => new SlowEngineHost(inner, TimeSpan.FromMilliseconds(int.Parse(milliseconds, CultureInfo.InvariantCulture))));

    /// <summary>One batch at a time, as on a device: the worker's second batch in hand waits for the first.</summary>
    readonly Lock device = new();

    public override IReadOnlyList<QuestionCapture> Capture(IReadOnlyList<string> questions, CaptureSpec spec, int batchSize)
    {
        lock (device)
        {
            Thread.Sleep(delay);
            return base.Capture(questions, spec, batchSize);
        }
    }
}
