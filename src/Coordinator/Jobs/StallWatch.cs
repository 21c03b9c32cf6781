namespace Activations.Coordinator.Jobs;

/// <summary>
/// Decides, from what the wait loop sees, when a waiting job is in trouble: no consumer on its question queue for
/// <see cref="NoConsumerWarning"/> (said once), and no result for the stall timeout (the job fails). Time is passed in,
/// so the rules are tested without waiting.
/// </summary>
public sealed class StallWatch(TimeSpan? stallTimeout, TimeSpan start)
{
    public static readonly TimeSpan NoConsumerWarning = TimeSpan.FromSeconds(30);

    TimeSpan lastProgress = start;
    int lastFinished = -1;
    TimeSpan? noConsumerSince;
    bool warned;

    /// <summary>True once, when the queue has had no consumer for <see cref="NoConsumerWarning"/>; unknown states (null) count neither way.</summary>
    public bool WarnNoConsumer(TimeSpan now, uint? consumers)
    {
        if (consumers is null)
        {
            return false;
        }
        if (consumers > 0)
        {
            noConsumerSince = null;
            return false;
        }
        noConsumerSince ??= now;
        if (warned || now - noConsumerSince < NoConsumerWarning)
        {
            return false;
        }
        warned = true;
        return true;
    }

    /// <summary>True when no question has finished for the stall timeout (never without one).</summary>
    public bool IsStalled(TimeSpan now, int finished)
    {
        if (finished != lastFinished)
        {
            lastFinished = finished;
            lastProgress = now;
        }
        return stallTimeout is { } limit && now - lastProgress >= limit;
    }

    /// <summary>How long no result has arrived.</summary>
    public TimeSpan SinceProgress(TimeSpan now) => now - lastProgress;
}
