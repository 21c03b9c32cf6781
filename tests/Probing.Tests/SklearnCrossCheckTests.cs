using System.Text.Json;
using Activations.Probing.Statistics;

namespace Activations.Probing.Tests;

/// <summary>The nested cross-validation against scikit-learn's GridSearchCV on the same splits.</summary>
public class SklearnCrossCheckTests
{
    [Fact]
    public void Nested_cross_validation_matches_scikit_learn_on_the_same_splits()
    {
        // A weak signal, so folds disagree, C varies across folds and the scores are not all extreme.
        var (f, u, _) = Synthetic.Planted(30, 15, 120, shift: 2.5, seed: 11);
        var (rows, labels) = Synthetic.Stack(f, u);
        var cv = new NestedCrossValidation(new ProbeDesign(Folds: 5, Repeats: 2, Seed: 3));
        var plan = cv.Plan(labels);
        var x = Synthetic.Matrix(rows);
        var ours = cv.Run(x, labels);

        var reference = JsonSerializer.Deserialize<JsonElement>(SystemPython.Run([SystemPython.Script("sklearn_nested_cv.py")], new
        {
            x = rows,
            labels,
            grid = ProbeDesign.RegularisationGrid,
            plan = plan.Select(p => new { train = p.Train, inner = p.Inner.Select(s => new { train = s.Train, validation = s.Validation }) }),
        }));

        Assert.Equal(plan.Count, reference.GetArrayLength());
        var distinctC = new HashSet<double>();
        for (var o = 0; o < plan.Count; o++)
        {
            var expected = reference[o];
            var fold = ours.Folds[o];
            Assert.Equal(expected.GetProperty("c").GetDouble(), fold.C);
            Assert.Equal(expected.GetProperty("balanced_accuracy").GetDouble(), fold.BalancedAccuracy, 12);
            Assert.Equal(expected.GetProperty("auroc").GetDouble(), fold.Auroc, 12);
            distinctC.Add(fold.C);
        }
        // Decision values of repeat 0's test rows agree to 1e-4 of their spread (measured: 2e-5; scikit-learn's lbfgs
        // stops on scipy's relative function-change test, ours on a gradient norm of 1e-12).
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
        Assert.True(worst <= 1e-4 * spread, $"decision values differ by {worst:g3} (largest |score| {spread:g3})");
    }
}
