namespace Activations.Probing.Statistics;

/// <summary>The verdict from balanced accuracy and the permutation p-value; the one place its thresholds live.</summary>
public static class Verdicts
{
    public const string LinearDirection = "linear direction";
    public const string WeakSignal = "weak signal";
    public const string NoLinearSignal = "no linear signal";

    public const double DirectionBalancedAccuracy = 0.70;
    public const double DirectionPValue = 0.01;
    public const double WeakPValue = 0.05;

    public static string Of(double balancedAccuracy, double pValue) =>
        pValue < DirectionPValue && balancedAccuracy >= DirectionBalancedAccuracy ? LinearDirection
        : pValue < WeakPValue ? WeakSignal
        : NoLinearSignal;

    /// <summary>The rule in words, for --help and the report.</summary>
    public static readonly string Rule =
        $"'{LinearDirection}': balanced accuracy >= {DirectionBalancedAccuracy:0.00} and p < {DirectionPValue}; " +
        $"'{WeakSignal}': p < {WeakPValue} otherwise; '{NoLinearSignal}': p >= {WeakPValue}. " +
        $"p = (k + 1) / (N + 1) over N label permutations, so p < {DirectionPValue} needs N >= {(int)Math.Ceiling(1 / DirectionPValue)}.";
}
