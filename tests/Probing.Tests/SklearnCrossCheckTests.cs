using System.Text.Json;
using Activations.Probing.Statistics;

namespace Activations.Probing.Tests;

/// <summary>The nested cross-validation against scikit-learn's GridSearchCV on the same splits.</summary>
public class SklearnCrossCheckTests
{
    sealed record Comparison(IReadOnlyList<OuterSplit> Plan, CrossValidationResult Ours, JsonElement Reference, double WorstScoreGap, double Spread);

    static Comparison Compare(params string[] flags)
    {
        // A weak signal, so folds disagree, C varies across folds and the scores are not all extreme.
        var (f, u, _) = Synthetic.Planted(30, 15, 120, shift: 2.5, seed: 11);
        var (rows, labels) = Synthetic.Stack(f, u);
        var cv = new NestedCrossValidation(new ProbeDesign(Folds: 5, Repeats: 2, Seed: 3));
        var plan = cv.Plan(labels);
        var ours = cv.Run(Synthetic.Matrix(rows), labels);
        var reference = JsonSerializer.Deserialize<JsonElement>(SystemPython.Run([SystemPython.Script("sklearn_nested_cv.py"), .. flags], new
        {
            x = rows,
            labels,
            grid = ProbeDesign.RegularisationGrid,
            plan = plan.Select(p => new { train = p.Train, inner = p.Inner.Select(s => new { train = s.Train, validation = s.Validation }) }),
        }));
        // Decision values of repeat 0's test rows (each row once).
        var spread = 0.0;
        var worst = 0.0;
        for (var o = 0; o < plan.Count; o++)
        {
            if (plan[o].Repeat != 0)
            {
                continue;
            }
            var test = reference[o].GetProperty("test").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var scores = reference[o].GetProperty("scores").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            for (var i = 0; i < test.Length; i++)
            {
                spread = Math.Max(spread, Math.Abs(scores[i]));
                worst = Math.Max(worst, Math.Abs(scores[i] - ours.OutOfFoldScores[test[i]]));
            }
        }
        return new Comparison(plan, ours, reference, worst, spread);
    }

    [Fact]
    public void Nested_cross_validation_matches_scikit_learn_on_the_same_splits()
    {
        var (plan, ours, reference, worst, spread) = Compare();

        Assert.Equal(plan.Count, reference.GetArrayLength());
        var chosen = new HashSet<double>();
        for (var o = 0; o < plan.Count; o++)
        {
            var expected = reference[o];
            var fold = ours.Folds[o];
            Assert.Equal(expected.GetProperty("c").GetDouble(), fold.C);
            Assert.Equal(expected.GetProperty("balanced_accuracy").GetDouble(), fold.BalancedAccuracy, 12);
            Assert.Equal(expected.GetProperty("auroc").GetDouble(), fold.Auroc, 12);
            chosen.Add(fold.C);
        }
        // Agreement to 1e-4 of the scores' spread (measured: 2e-5; scikit-learn's lbfgs stops on scipy's relative
        // function-change test, ours on the gradient norm).
        Assert.True(worst <= 1e-4 * spread, $"decision values differ by {worst:g3} (largest |score| {spread:g3})");
    }

    [Fact]
    public void The_comparison_fails_for_a_different_probe()
    {
        // scikit-learn without the class weighting: the same splits, a different model; the check must see it.
        var (_, _, _, worst, spread) = Compare("--unweighted");
        Assert.True(worst > 1e-2 * spread, $"decision values differ by only {worst:g3} (largest |score| {spread:g3})");
    }
}
