namespace Activations.Probing.Statistics;

/// <summary>One outer test fold's scores, with the C its inner CV chose.</summary>
public sealed record FoldScore(int Repeat, int Fold, double Accuracy, double BalancedAccuracy, double Auroc, double C);

public sealed record CrossValidationResult(IReadOnlyList<FoldScore> Folds, IReadOnlyList<double> OutOfFoldScores)
{
    public double MeanBalancedAccuracy => Folds.Average(f => f.BalancedAccuracy);
}

/// <summary>One outer split: its training rows and the inner (training, validation) splits of those rows.</summary>
internal sealed record OuterSplit(int Repeat, int Fold, bool[] Train, IReadOnlyList<(bool[] Train, bool[] Validation)> Inner);

/// <summary>The probe refit on every row, in raw activation space: decision value = x · Direction + Bias.</summary>
public sealed record FittedProbe(double[] Direction, double Bias, double C, double[] Scores);

/// <summary>
/// Nested, repeated, stratified cross-validation of an L2 logistic-regression probe on standardised features:
/// every outer training fold is standardised with its own mean and scale, its C is chosen by an inner stratified CV
/// on that training fold alone (each inner training fold standardised with its own statistics, C by mean validation
/// log-loss, ties to the stronger penalty), and the outer test fold is scored once. Classes are weighted
/// n / (2 n_c) in the fit, so the probe does not win by favouring the larger class. Thread-safe: permutations run
/// it in parallel.
/// </summary>
public sealed class NestedCrossValidation(ProbeDesign design)
{
    const int OuterStream = 1;
    const int InnerStream = 2;
    const int RefitStream = 3;

    /// <param name="labels">1 = faithful, 0 = unfaithful, per row of <paramref name="x"/>.</param>
    /// <param name="keepScores">Keep the out-of-fold decision values of the first repeat (for the report).</param>
    public CrossValidationResult Run(RowMatrix x, int[] labels, bool keepScores = true)
    {
        var n = labels.Length;
        var plan = Plan(labels);
        var results = new List<FoldScore>();
        var outOfFold = new double[n];
        for (var o = 0; o < plan.Count; o++)
        {
            var split = plan[o];
            var c = ChooseC(x, labels, split.Inner);
            var basis = StandardisedBasis.Build(x, split.Train);
            var (w, b) = Fit(basis, labels, split.Train, c);
            var scores = Scores(basis, w, b);
            var test = Enumerable.Range(0, n).Where(i => !split.Train[i]).ToArray();
            var testLabels = test.Select(i => labels[i]).ToArray();
            var testScores = test.Select(i => scores[i]).ToArray();
            results.Add(new FoldScore(split.Repeat, split.Fold,
                Metrics.Accuracy(testLabels, testScores), Metrics.BalancedAccuracy(testLabels, testScores),
                Metrics.Auroc(testLabels, testScores), c));
            if (keepScores && split.Repeat == 0)
            {
                foreach (var i in test)
                {
                    outOfFold[i] = scores[i];
                }
            }
        }
        return new CrossValidationResult(results, keepScores ? outOfFold : []);
    }

    /// <summary>The outer splits of every repeat, each with its inner splits (masks over all rows); a seed gives the same plan.</summary>
    internal IReadOnlyList<OuterSplit> Plan(int[] labels)
    {
        var plan = new List<OuterSplit>();
        for (var repeat = 0; repeat < design.Repeats; repeat++)
        {
            var folds = StratifiedFolds.Assign(labels, design.Folds, new Random(StratifiedFolds.Seed(design.Seed, OuterStream, repeat)));
            for (var fold = 0; fold < design.Folds; fold++)
            {
                var train = folds.Select(f => f != fold).ToArray();
                var seed = StratifiedFolds.Seed(design.Seed, InnerStream, plan.Count);
                plan.Add(new OuterSplit(repeat, fold, train, InnerSplits(labels, train, seed, ProbeDesign.InnerFolds).ToList()));
            }
        }
        return plan;
    }

    /// <summary>Chooses C by a stratified CV on all rows, then refits on all rows and maps the direction back to raw space.</summary>
    public FittedProbe FitAll(RowMatrix x, int[] labels)
    {
        var all = Enumerable.Repeat(true, labels.Length).ToArray();
        var splits = InnerSplits(labels, all, StratifiedFolds.Seed(design.Seed, RefitStream, 0), design.Folds).ToList();
        var c = ChooseC(x, labels, splits);
        var basis = StandardisedBasis.Build(x, all);
        var (w, b) = Fit(basis, labels, all, c);
        var (direction, bias) = basis.ToRawSpace(x, w, b);
        return new FittedProbe(direction, bias, c, Scores(basis, w, b));
    }

    /// <summary>The C with the lowest mean validation log-loss over the splits; a tie keeps the smaller C (stronger penalty).</summary>
    static double ChooseC(RowMatrix x, int[] labels, IReadOnlyList<(bool[] Train, bool[] Validation)> splits)
    {
        var grid = ProbeDesign.RegularisationGrid;
        var loss = new double[grid.Count];
        foreach (var (train, validation) in splits)
        {
            var basis = StandardisedBasis.Build(x, train);
            var rows = Enumerable.Range(0, labels.Length).Where(i => validation[i]).ToArray();
            var validationLabels = rows.Select(i => labels[i]).ToArray();
            double[]? previous = null;
            for (var g = 0; g < grid.Count; g++)
            {
                // Along the grid (C ascending) each fit starts from the last one's solution.
                var (w, b) = Fit(basis, labels, train, grid[g], previous);
                previous = [.. w, b];
                var scores = Scores(basis, w, b);
                loss[g] += Metrics.LogLoss(validationLabels, rows.Select(i => scores[i]).ToArray()) / splits.Count;
            }
        }
        var best = 0;
        for (var g = 1; g < grid.Count; g++)
        {
            if (loss[g] < loss[best])
            {
                best = g;
            }
        }
        return grid[best];
    }

    /// <summary>Fits on the training rows in the basis, classes weighted n_t / (2 n_c) (scikit-learn's class_weight='balanced').</summary>
    static (double[] W, double B) Fit(StandardisedBasis basis, int[] labels, bool[] train, double c, double[]? start = null)
    {
        var rows = Enumerable.Range(0, labels.Length).Where(i => train[i]).ToArray();
        var width = basis.Rank;
        var features = new double[rows.Length * width];
        for (var k = 0; k < rows.Length; k++)
        {
            Array.Copy(basis.Features, rows[k] * width, features, k * width, width);
        }
        var trainLabels = rows.Select(i => labels[i]).ToArray();
        var positives = trainLabels.Count(l => l == 1);
        var weights = trainLabels.Select(l => rows.Length / (2.0 * (l == 1 ? positives : rows.Length - positives))).ToArray();
        return LogisticFit.Fit(features, width, trainLabels, weights, c, start);
    }

    /// <summary>Decision values of every row in the basis.</summary>
    static double[] Scores(StandardisedBasis basis, double[] w, double b)
    {
        var scores = new double[basis.Rows];
        for (var i = 0; i < basis.Rows; i++)
        {
            var z = b;
            for (var j = 0; j < basis.Rank; j++)
            {
                z += basis.Features[i * basis.Rank + j] * w[j];
            }
            scores[i] = z;
        }
        return scores;
    }

    /// <summary>Stratified splits of the rows in <paramref name="within"/>: (training, validation) masks over all rows.</summary>
    static IEnumerable<(bool[] Train, bool[] Validation)> InnerSplits(int[] labels, bool[] within, int seed, int folds)
    {
        var rows = Enumerable.Range(0, labels.Length).Where(i => within[i]).ToArray();
        var rowLabels = rows.Select(i => labels[i]).ToArray();
        var minority = Math.Min(rowLabels.Count(l => l == 1), rowLabels.Count(l => l == 0));
        var k = Math.Min(folds, minority);
        var assigned = StratifiedFolds.Assign(rowLabels, k, new Random(seed));
        for (var fold = 0; fold < k; fold++)
        {
            var train = new bool[labels.Length];
            var validation = new bool[labels.Length];
            for (var r = 0; r < rows.Length; r++)
            {
                (assigned[r] == fold ? validation : train)[rows[r]] = true;
            }
            yield return (train, validation);
        }
    }
}
