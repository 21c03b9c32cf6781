using System.Diagnostics;

namespace Activations.Worker.Messaging;

/// <summary>
/// Liveness that means "making progress": the worker is alive unless it holds questions and no batch has started
/// or finished for <see cref="WorkerOptions.StuckAfter"/> (a hung forward pass, a deadlock). Idle is alive.
/// A plain class with one question (<see cref="Check"/>), so any health-check shape can ask it.
/// </summary>
public sealed class WorkProgress
{
    readonly Func<TimeSpan> now;
    readonly Lock gate = new();
    int inHand;
    TimeSpan lastProgress;

    public WorkProgress(Func<TimeSpan>? clock = null)
    {
        var watch = Stopwatch.StartNew();
        now = clock ?? (() => watch.Elapsed);
        lastProgress = now();
    }

    /// <summary>Questions taken into a batch that is about to run.</summary>
    public void Started(int questions)
    {
        lock (gate)
        {
            inHand += questions;
            lastProgress = now();
        }
    }

    /// <summary>Questions of a batch that has been answered (or given up).</summary>
    public void Finished(int questions)
    {
        lock (gate)
        {
            inHand = Math.Max(0, inHand - questions);
            lastProgress = now();
        }
    }

    /// <summary>Alive, or why not: questions in hand and no progress for <paramref name="stuckAfter"/>.</summary>
    public (bool Live, string Detail) Check(TimeSpan stuckAfter)
    {
        lock (gate)
        {
            var quiet = now() - lastProgress;
            return inHand > 0 && quiet >= stuckAfter
                ? (false, $"{inHand} question(s) in hand and no batch has progressed for {quiet.TotalSeconds:F0} s")
                : (true, inHand > 0 ? $"{inHand} question(s) in hand" : "idle");
        }
    }
}
