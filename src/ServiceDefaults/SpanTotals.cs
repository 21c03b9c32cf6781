using System.Collections.Concurrent;
using System.Diagnostics;

namespace Activations.ServiceDefaults;

/// <summary>
/// Sums the duration and count of this process's own spans (<see cref="ActivationsTelemetry.Source"/>) by name,
/// without an exporter: what the worker's stats file and the pipeline benchmark report as time per part.
/// </summary>
public sealed class SpanTotals : IDisposable
{
    readonly ConcurrentDictionary<string, Total> totals = new();
    readonly ActivityListener listener;

    public SpanTotals()
    {
        listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ActivationsTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity => totals.GetOrAdd(activity.OperationName, _ => new Total()).Add(activity.Duration),
        };
        ActivitySource.AddActivityListener(listener);
    }

    /// <summary>Span name → (spans ended, their summed duration in seconds).</summary>
    public IReadOnlyDictionary<string, SpanTotal> Snapshot()
        => totals.ToDictionary(p => p.Key, p => p.Value.Read());

    public void Dispose() => listener.Dispose();

    sealed class Total
    {
        long count;
        long ticks;

        public void Add(TimeSpan duration)
        {
            Interlocked.Increment(ref count);
            Interlocked.Add(ref ticks, duration.Ticks);
        }

        public SpanTotal Read() => new(Interlocked.Read(ref count), TimeSpan.FromTicks(Interlocked.Read(ref ticks)).TotalSeconds);
    }
}

/// <param name="Count">spans of this name that ended</param>
/// <param name="Seconds">their durations summed (spans that overlap in time each count in full)</param>
public sealed record SpanTotal(long Count, double Seconds);
