using System.Diagnostics;
using Activations.Coordinator.Store;
using Microsoft.Extensions.Logging;

namespace Activations.Coordinator.Jobs;

/// <summary>Logs done/total, questions per second and time left, at most every few seconds.</summary>
public sealed class ProgressReporter(ILogger logger, int alreadyFinished, TimeSpan interval)
{
    readonly Stopwatch clock = Stopwatch.StartNew();
    TimeSpan? lastReport;
    int lastFinished = -1;

    public void Report(JobProgress progress, bool force = false)
    {
        var now = clock.Elapsed;
        if (!force && lastReport is { } last && (now - last < interval || progress.Finished == lastFinished))
        {
            return;
        }
        lastReport = now;
        lastFinished = progress.Finished;
        var doneHere = progress.Finished - alreadyFinished;
        var rate = doneHere / Math.Max(now.TotalSeconds, 1e-3);
        var left = rate > 0 ? TimeSpan.FromSeconds((progress.Total - progress.Finished) / rate) : (TimeSpan?)null;
        logger.LogInformation("Progress {Finished}/{Total} questions ({Failed} failed), {Rate:F1} questions/s, {Left} left",
            progress.Finished, progress.Total, progress.Failed, rate, left is { } l ? l.ToString(@"hh\:mm\:ss") : "unknown");
    }
}
