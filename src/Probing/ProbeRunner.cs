using Activations.Probing.Input;
using Activations.Probing.Statistics;

namespace Activations.Probing;

/// <summary>Progress of one hook's permutation test.</summary>
public sealed record ProbeProgress(string Hook, int Index, int Hooks, int Done, int Total);

/// <summary>
/// Runs the probes: for each hook the nested cross-validation, the refit on all rows, the permutation test (each
/// permutation reruns the whole cross-validation, in parallel across cores) and the PCA view.
/// </summary>
public sealed class ProbeRunner(ProbeSettings settings, IProgress<ProbeProgress>? progress = null)
{
    const int PermutationStream = 4;

    public ProbeRun Run(ActivationFolder folder, CancellationToken cancellation = default)
    {
        // One thread per permutation; Math.NET's own parallel loops would only compete with them.
        MathNet.Numerics.Control.UseSingleThread();
        var results = new List<ProbeResult>();
        for (var i = 0; i < folder.Sets.Count; i++)
        {
            results.Add(RunOne(folder.Sets[i], i, folder.Sets.Count, cancellation));
        }
        var holm = Holm(results.Select(r => r.PValue).ToList());
        return new ProbeRun(settings, folder, results.Select((r, i) => r with { PValueHolm = holm[i] }).ToList());
    }

    ProbeResult RunOne(ActivationSet set, int index, int hooks, CancellationToken cancellation)
    {
        var x = new RowMatrix(set.Rows, set.Count, set.Width);
        var labels = set.Labels();
        var cv = new NestedCrossValidation(settings.Design);
        var observed = cv.Run(x, labels);
        var probe = cv.FitAll(x, labels);

        var permuted = new double[settings.Permutations];
        var done = 0;
        progress?.Report(new ProbeProgress(set.Hook, index, hooks, 0, permuted.Length));
        Parallel.For(0, permuted.Length, new ParallelOptions { CancellationToken = cancellation, MaxDegreeOfParallelism = Environment.ProcessorCount }, p =>
        {
            var shuffled = (int[])labels.Clone();
            new Random(StratifiedFolds.Seed(settings.Design.Seed, PermutationStream, p)).Shuffle(shuffled);
            permuted[p] = cv.Run(x, shuffled, keepScores: false).MeanBalancedAccuracy;
            progress?.Report(new ProbeProgress(set.Hook, index, hooks, Interlocked.Increment(ref done), permuted.Length));
        });
        // As good as or better than observed, within rounding: counted against the probe.
        var atLeast = permuted.Count(v => v >= observed.MeanBalancedAccuracy - 1e-12);
        return new ProbeResult
        {
            Set = set,
            CrossValidation = observed,
            Probe = probe,
            PermutedBalancedAccuracies = permuted,
            PValue = (atLeast + 1.0) / (permuted.Length + 1.0),
            Pca = PcaView.Of(x),
        };
    }

    /// <summary>Holm's step-down adjustment, so a verdict can be read across several hooks at once.</summary>
    internal static double[] Holm(IReadOnlyList<double> p)
    {
        var order = Enumerable.Range(0, p.Count).OrderBy(i => p[i]).ToArray();
        var adjusted = new double[p.Count];
        var running = 0.0;
        for (var rank = 0; rank < order.Length; rank++)
        {
            running = Math.Max(running, Math.Min(1, (p.Count - rank) * p[order[rank]]));
            adjusted[order[rank]] = running;
        }
        return adjusted;
    }
}
