using Activations.Probing.Input;
using Activations.Probing.Statistics;

namespace Activations.Probing;

/// <summary>What one hook's probe found.</summary>
public sealed record ProbeResult
{
    public required ActivationSet Set { get; init; }
    public required CrossValidationResult CrossValidation { get; init; }
    public required FittedProbe Probe { get; init; }
    public required IReadOnlyList<double> PermutedBalancedAccuracies { get; init; }
    public required double PValue { get; init; }
    /// <summary>Holm-adjusted over every hook of the run (filled in once all hooks are done).</summary>
    public double PValueHolm { get; init; }
    public required PcaView Pca { get; init; }

    public double Accuracy => CrossValidation.Folds.Average(f => f.Accuracy);
    public double AccuracyStd => Metrics.StandardDeviation(CrossValidation.Folds.Select(f => f.Accuracy).ToList());
    public double BalancedAccuracy => CrossValidation.MeanBalancedAccuracy;
    public double BalancedAccuracyStd => Metrics.StandardDeviation(CrossValidation.Folds.Select(f => f.BalancedAccuracy).ToList());
    public double Auroc => CrossValidation.Folds.Average(f => f.Auroc);
    public double AurocStd => Metrics.StandardDeviation(CrossValidation.Folds.Select(f => f.Auroc).ToList());
    /// <summary>Accuracy of always answering the larger class.</summary>
    public double MajorityBaseline => (double)Math.Max(Set.Faithful, Set.Unfaithful) / Set.Count;
    public string Verdict => Verdicts.Of(BalancedAccuracy, PValue);
    public string ProbeFileName => $"probe_{Set.Stem}.pt";

    /// <summary>One line for the terminal.</summary>
    public string Summary =>
        $"{Set.Hook}: balanced accuracy {BalancedAccuracy:0.000} ± {BalancedAccuracyStd:0.000}, accuracy {Accuracy:0.000} (majority {MajorityBaseline:0.000}), AUROC {Auroc:0.000}, p = {PValue:0.####} -> {Verdict}";
}

/// <summary>The whole run: settings, what the folder held, one result per hook in the model's order.</summary>
public sealed record ProbeRun(ProbeSettings Settings, ActivationFolder Folder, IReadOnlyList<ProbeResult> Results);
