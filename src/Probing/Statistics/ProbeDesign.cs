namespace Activations.Probing.Statistics;

/// <summary>How a probe is evaluated: outer repeated stratified k-fold, the inner CV that picks the L2 strength, the seed.</summary>
public sealed record ProbeDesign(int Folds, int Repeats, int Seed)
{
    /// <summary>Inverse L2 strengths tried by the inner cross-validation (scikit-learn's C; penalty ‖w‖²/(2C)).</summary>
    public static readonly IReadOnlyList<double> RegularisationGrid = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10];

    /// <summary>Inner folds (fewer when a class has fewer training rows).</summary>
    public const int InnerFolds = 3;

    /// <summary>The smallest --folds: with at least that many rows per class, every inner CV still has 2 folds.</summary>
    public const int MinimumFolds = 3;
}
