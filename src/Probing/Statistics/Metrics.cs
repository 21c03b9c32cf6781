namespace Activations.Probing.Statistics;

/// <summary>Classification metrics on decision values; label 1 = faithful, predicted when the value is above 0.</summary>
internal static class Metrics
{
    internal static double Accuracy(ReadOnlySpan<int> labels, ReadOnlySpan<double> scores)
    {
        var correct = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            correct += (scores[i] > 0 ? 1 : 0) == labels[i] ? 1 : 0;
        }
        return (double)correct / labels.Length;
    }

    /// <summary>Mean of the two classes' recalls: 0.5 for any constant prediction, whatever the class sizes.</summary>
    internal static double BalancedAccuracy(ReadOnlySpan<int> labels, ReadOnlySpan<double> scores)
    {
        int positives = 0, negatives = 0, truePositives = 0, trueNegatives = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            if (labels[i] == 1)
            {
                positives++;
                truePositives += scores[i] > 0 ? 1 : 0;
            }
            else
            {
                negatives++;
                trueNegatives += scores[i] > 0 ? 0 : 1;
            }
        }
        if (positives == 0 || negatives == 0)
        {
            throw new ArgumentException("balanced accuracy needs both classes");
        }
        return 0.5 * ((double)truePositives / positives + (double)trueNegatives / negatives);
    }

    /// <summary>Area under the ROC curve: the chance a faithful row scores above an unfaithful one, ties counted half.</summary>
    internal static double Auroc(ReadOnlySpan<int> labels, ReadOnlySpan<double> scores)
    {
        double wins = 0;
        long pairs = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            if (labels[i] != 1)
            {
                continue;
            }
            for (var j = 0; j < labels.Length; j++)
            {
                if (labels[j] != 0)
                {
                    continue;
                }
                pairs++;
                wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0;
            }
        }
        if (pairs == 0)
        {
            throw new ArgumentException("AUROC needs both classes");
        }
        return wins / pairs;
    }

    /// <summary>Mean negative log-likelihood of the labels under sigmoid(score), unweighted.</summary>
    internal static double LogLoss(ReadOnlySpan<int> labels, ReadOnlySpan<double> scores)
    {
        double total = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            // log(1 + exp(-s)) for label 1, log(1 + exp(s)) for label 0, computed stably.
            var margin = labels[i] == 1 ? scores[i] : -scores[i];
            total += margin > 0 ? Math.Log(1 + Math.Exp(-margin)) : -margin + Math.Log(1 + Math.Exp(margin));
        }
        return total / labels.Length;
    }

    internal static double Mean(IReadOnlyList<double> values) => values.Average();

    /// <summary>Population standard deviation (over folds and repeats, as scikit-learn's cross_val_score users report).</summary>
    internal static double StandardDeviation(IReadOnlyList<double> values)
    {
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Count);
    }
}
