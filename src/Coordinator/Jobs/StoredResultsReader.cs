using Activations.Contracts;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Store;
using Microsoft.Extensions.Logging;

namespace Activations.Coordinator.Jobs;

/// <summary>Reads a finished job's results back from the store, as every command's assembly needs them.</summary>
public sealed class StoredResultsReader(JobStore store, ILoggerFactory loggers)
{
    readonly ILogger logger = loggers.CreateLogger("Activations.Coordinator");

    /// <summary>
    /// What the store holds for a finished job, as every command's assembly needs it: the questions, those kept (all
    /// but the failed ones, which --on-failure drop leaves out and names in the log), where every kept question's
    /// vector is read by hook, the hooks the job asked for, the workers that answered, and each kept question's token count.
    /// </summary>
    public async Task<StoredResults> ReadAsync(Guid jobId, IReadOnlyList<QuestionFailureRecord> failures, CancellationToken cancellation)
    {
        var questions = await store.QuestionsAsync(jobId, cancellation);
        var results = (await store.ResultsAsync(jobId, cancellation)).ToDictionary(r => r.QuestionIndex);
        var dropped = failures.Select(f => f.QuestionIndex).ToHashSet();
        if (dropped.Count > 0)
        {
            logger.LogWarning("Leaving out {Count} question(s) that could not be captured: {Pairs}", dropped.Count, NameFailures(questions, failures));
        }
        var kept = questions.Where(q => !dropped.Contains(q.QuestionIndex)).ToList();
        var pairOf = kept.ToDictionary(q => q.QuestionIndex, q => q.PairId);
        // Every vector under the hook it was stored with, read hook by hook as assembly asks; what the results hold is
        // checked against what the job asked for.
        var vectors = new StoredVectorSource(store, jobId, pairOf);
        var tokenCounts = kept.ToDictionary(q => q.PairId, q => results[q.QuestionIndex].TokenCount);
        var requested = (await store.JobHooksAsync(jobId, cancellation))
            .Select(h => new RequestedHook(HookPoint.Parse(h.Hook), h.Width)).OrderBy(r => r.Hook).ToList();
        var workers = kept.GroupBy(q => results[q.QuestionIndex].Worker)
            .Select(g => new ManifestWorker(g.Key, results[g.First().QuestionIndex].Device, results[g.First().QuestionIndex].Dtype, g.Count()))
            .OrderBy(w => w.Name, StringComparer.Ordinal).ToList();
        return new StoredResults(questions, kept, vectors, requested, workers, tokenCounts);
    }

    /// <summary>One line naming each failed question's pair and its reason.</summary>
    public static string NameFailures(IReadOnlyList<QuestionRecord> questions, IReadOnlyList<QuestionFailureRecord> failures)
    {
        var pairs = questions.ToDictionary(q => q.QuestionIndex, q => q.PairId);
        return string.Join("; ", failures.Select(f => $"pair {pairs[f.QuestionIndex]}: {f.Reason}"));
    }
}

/// <summary>What <see cref="StoredResultsReader.ReadAsync"/> read back from the store.</summary>
public sealed record StoredResults(
    IReadOnlyList<QuestionRecord> Questions,
    IReadOnlyList<QuestionRecord> Kept,
    IPooledVectorSource Vectors,
    IReadOnlyList<RequestedHook> Requested,
    IReadOnlyList<ManifestWorker> Workers,
    IReadOnlyDictionary<string, int> TokenCounts);
