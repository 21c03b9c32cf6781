using TorchSharp;
using static TorchSharp.torch;

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
/// n / (2 n_c) in the fit, so the probe does not win by favouring the larger class.
/// </summary>
public sealed class NestedCrossValidation(ProbeDesign design)
{
    const int OuterStream = 1;
    const int InnerStream = 2;
    const int RefitStream = 3;

    /// <param name="x">[n, d] float64.</param>
    /// <param name="labels">1 = faithful, 0 = unfaithful.</param>
    /// <param name="keepScores">Keep the out-of-fold decision values of the first repeat (for the report).</param>
    public CrossValidationResult Run(Tensor x, int[] labels, bool keepScores = true)
    {
        using var scope = NewDisposeScope();
        var n = labels.Length;
        var plan = Plan(labels);
        var outer = plan.Select(p => p.Train).ToList();
        var outerIds = plan.Select(p => (p.Repeat, p.Fold)).ToList();
        var inner = plan.SelectMany((p, o) => p.Inner.Select(s => (s.Train, s.Validation, Outer: o))).ToList();

        var chosen = ChooseC(x, labels, inner, outer.Count);
        var scores = FitAndScore(x, labels, outer, chosen);

        var results = new List<FoldScore>();
        var outOfFold = new double[n];
        for (var o = 0; o < outer.Count; o++)
        {
            var test = Enumerable.Range(0, n).Where(i => !outer[o][i]).ToArray();
            var testLabels = test.Select(i => labels[i]).ToArray();
            var testScores = test.Select(i => scores[o][i]).ToArray();
            results.Add(new FoldScore(outerIds[o].Repeat, outerIds[o].Fold,
                Metrics.Accuracy(testLabels, testScores), Metrics.BalancedAccuracy(testLabels, testScores),
                Metrics.Auroc(testLabels, testScores), chosen[o]));
            if (keepScores && outerIds[o].Repeat == 0)
            {
                foreach (var i in test)
                {
                    outOfFold[i] = scores[o][i];
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
                plan.Add(new OuterSplit(repeat, fold, train, InnerSplits(labels, train, seed).ToList()));
            }
        }
        return plan;
    }

    /// <summary>Chooses C by a stratified CV on all rows, then refits on all rows and maps the direction back to raw space.</summary>
    public FittedProbe FitAll(Tensor x, int[] labels)
    {
        using var scope = NewDisposeScope();
        var all = Enumerable.Repeat(true, labels.Length).ToArray();
        var splits = InnerSplits(labels, all, StratifiedFolds.Seed(design.Seed, RefitStream, 0), design.Folds)
            .Select(s => (s.Train, s.Validation, Outer: 0)).ToList();
        var c = ChooseC(x, labels, splits, 1)[0];

        using var basis = StandardisedBasis.Build(x, MaskTensor([all]));
        var features = new ReducedFeatures(basis);
        var (w, b) = features.Fit(0, labels, all, c);
        // w_std [d] = Vhᵀ z; on raw x: (x - μ)/σ · w_std + b = x · (w_std/σ) + (b - μ · w_std/σ).
        var standardDirection = basis.Basis[0].t().matmul(tensor(w, dtype: float64));
        var direction = standardDirection / basis.Scale[0];
        var bias = b - (basis.Mean[0] * direction).sum().item<double>();
        return new FittedProbe(direction.data<double>().ToArray(), bias, c, features.Scores(0, w, b));
    }

    /// <summary>For each outer set, the C with the lowest mean validation log-loss over its inner splits.</summary>
    static double[] ChooseC(Tensor x, int[] labels, List<(bool[] Train, bool[] Validation, int Outer)> splits, int outerCount)
    {
        using var scope = NewDisposeScope();
        var grid = ProbeDesign.RegularisationGrid;
        var loss = new double[outerCount, grid.Count];
        var splitsPerOuter = new int[outerCount];
        foreach (var split in splits)
        {
            splitsPerOuter[split.Outer]++;
        }
        using var basis = StandardisedBasis.Build(x, MaskTensor(splits.Select(s => s.Train).ToList()));
        var features = new ReducedFeatures(basis);
        var n = labels.Length;
        for (var s = 0; s < splits.Count; s++)
        {
            var validation = Enumerable.Range(0, n).Where(i => splits[s].Validation[i]).ToArray();
            var validationLabels = validation.Select(i => labels[i]).ToArray();
            for (var g = 0; g < grid.Count; g++)
            {
                var (w, b) = features.Fit(s, labels, splits[s].Train, grid[g]);
                var scores = features.Scores(s, w, b);
                var validationScores = validation.Select(i => scores[i]).ToArray();
                loss[splits[s].Outer, g] += Metrics.LogLoss(validationLabels, validationScores) / splitsPerOuter[splits[s].Outer];
            }
        }
        var chosen = new double[outerCount];
        for (var o = 0; o < outerCount; o++)
        {
            var best = 0;
            for (var g = 1; g < grid.Count; g++)
            {
                if (loss[o, g] < loss[o, best])
                {
                    best = g; // strict: a tie keeps the smaller C, the stronger penalty
                }
            }
            chosen[o] = grid[best];
        }
        return chosen;
    }

    /// <summary>Fits each outer training set at its chosen C ; decision values of every row.</summary>
    static double[][] FitAndScore(Tensor x, int[] labels, List<bool[]> sets, double[] chosen)
    {
        using var scope = NewDisposeScope();
        using var basis = StandardisedBasis.Build(x, MaskTensor(sets));
        var features = new ReducedFeatures(basis);
        var scores = new double[sets.Count][];
        for (var s = 0; s < sets.Count; s++)
        {
            var (w, b) = features.Fit(s, labels, sets[s], chosen[s]);
            scores[s] = features.Scores(s, w, b);
        }
        return scores;
    }

    /// <summary>Stratified splits of the rows in <paramref name="within"/>: (training, validation) masks over all rows.</summary>
    IEnumerable<(bool[] Train, bool[] Validation)> InnerSplits(int[] labels, bool[] within, int seed, int folds = ProbeDesign.InnerFolds)
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

    static Tensor MaskTensor(IReadOnlyList<bool[]> sets)
    {
        var n = sets[0].Length;
        var flat = new double[sets.Count * n];
        for (var s = 0; s < sets.Count; s++)
        {
            for (var i = 0; i < n; i++)
            {
                flat[s * n + i] = sets[s][i] ? 1 : 0;
            }
        }
        return tensor(flat, [sets.Count, n], dtype: float64);
    }
}

/// <summary>A basis's features as arrays: fits one set's training rows and scores every row.</summary>
internal sealed class ReducedFeatures(StandardisedBasis basis)
{
    readonly double[] all = basis.Features.data<double>().ToArray(); // [D, n, r]
    readonly int rows = (int)basis.Features.shape[1];
    readonly int width = (int)basis.Features.shape[2];

    /// <summary>Fits set s on its training rows, classes weighted n_t / (2 n_c) (scikit-learn's class_weight='balanced').</summary>
    public (double[] W, double B) Fit(int set, int[] labels, bool[] train, double c)
    {
        var rowsIn = Enumerable.Range(0, rows).Where(i => train[i]).ToArray();
        var features = new double[rowsIn.Length * width];
        for (var k = 0; k < rowsIn.Length; k++)
        {
            Array.Copy(all, ((long)set * rows + rowsIn[k]) * width, features, (long)k * width, width);
        }
        var trainLabels = rowsIn.Select(i => labels[i]).ToArray();
        var positives = trainLabels.Count(l => l == 1);
        var weights = trainLabels.Select(l => rowsIn.Length / (2.0 * (l == 1 ? positives : rowsIn.Length - positives))).ToArray();
        return LogisticFit.Fit(features, width, trainLabels, weights, c);
    }

    /// <summary>Decision values of every row under set s's standardisation and basis.</summary>
    public double[] Scores(int set, double[] w, double b)
    {
        var scores = new double[rows];
        for (var i = 0; i < rows; i++)
        {
            var offset = ((long)set * rows + i) * width;
            var z = b;
            for (var j = 0; j < width; j++)
            {
                z += all[offset + j] * w[j];
            }
            scores[i] = z;
        }
        return scores;
    }
}
