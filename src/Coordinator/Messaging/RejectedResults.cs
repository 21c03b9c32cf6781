using Activations.Coordinator.Store;

namespace Activations.Coordinator.Messaging;

/// <summary>How often each question's results were rejected (in this coordinator): a bound on asking again.</summary>
public sealed class RejectedResults
{
    public const int Limit = 3;

    readonly Dictionary<(Guid, int), int> counts = [];

    /// <summary>Counts the rejections; the questions to ask again, and those rejected <see cref="Limit"/> times.</summary>
    public (List<RejectedResult> AskAgain, List<RejectedResult> GiveUp) Count(IReadOnlyList<RejectedResult> rejected)
    {
        var again = new List<RejectedResult>();
        var giveUp = new List<RejectedResult>();
        lock (counts)
        {
            foreach (var r in rejected.DistinctBy(r => (r.JobId, r.QuestionIndex)))
            {
                var n = counts[(r.JobId, r.QuestionIndex)] = counts.GetValueOrDefault((r.JobId, r.QuestionIndex)) + 1;
                (n >= Limit ? giveUp : again).Add(r);
            }
        }
        return (again, giveUp);
    }
}
