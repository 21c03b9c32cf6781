using System.Diagnostics;
using Activations.Coordinator.Store;

namespace Activations.Coordinator.Jobs;

/// <summary>
/// Flow control for the publish loop: at most <see cref="Limit"/> questions published and not yet answered, so
/// neither the broker's queue nor (embedded) the in-memory transport ever holds a whole sweep. Answered: what
/// this store has recorded since publishing began or, while that does not move (another coordinator may be
/// recording this job's results), what the database says.
/// </summary>
internal sealed class PublishWindow(JobStore store, Guid jobId, int finishedAtStart)
{
    /// <summary>Several seconds of work for a box of GPUs, and a bounded amount of memory.</summary>
    public const int Limit = 30_000;

    readonly long recordedAtStart = store.RecordedHere;
    long published;
    long answered;

    /// <param name="watch">the job's stall watch, given the database's count each time the window reads it</param>
    public async Task WaitForRoomAsync(int next, Func<JobProgress, Task> watch, CancellationToken cancellation)
    {
        var stalled = Stopwatch.StartNew();
        while (published + next - Math.Max(answered, store.RecordedHere - recordedAtStart) > Limit)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellation);
            if (stalled.Elapsed >= JobRunner.ProgressReadInterval)
            {
                var progress = await store.ProgressAsync(jobId, cancellation);
                answered = Math.Max(answered, progress.Finished - finishedAtStart);
                await watch(progress);
                stalled.Restart();
            }
        }
        published += next;
    }
}
