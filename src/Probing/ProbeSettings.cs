using Activations.Contracts;
using Activations.Probing.Statistics;

namespace Activations.Probing;

/// <summary>The probe command's settings, validated once.</summary>
public sealed record ProbeSettings
{
    public const string DefaultOutFolderName = "probes";

    public required string Activations { get; init; }
    public required string Out { get; init; }
    public required ProbeDesign Design { get; init; }
    public required int Permutations { get; init; }

    public static ProbeSettings Validate(string activations, string? outFolder, int folds, int repeats, int permutations, int seed)
    {
        if (string.IsNullOrWhiteSpace(activations))
        {
            throw new InvalidInputException("--activations", "give the folder that holds the activation files");
        }
        if (folds < ProbeDesign.MinimumFolds)
        {
            throw new InvalidInputException("--folds", $"{folds}: at least {ProbeDesign.MinimumFolds}, so every training fold still has an inner cross-validation");
        }
        if (repeats < 1)
        {
            throw new InvalidInputException("--repeats", $"{repeats}: at least 1");
        }
        if (permutations < 1)
        {
            throw new InvalidInputException("--permutations", $"{permutations}: at least 1 (1000 for a p-value down to 0.001)");
        }
        return new ProbeSettings
        {
            Activations = activations,
            Out = string.IsNullOrWhiteSpace(outFolder) ? Path.Combine(activations, DefaultOutFolderName) : outFolder,
            Design = new ProbeDesign(folds, repeats, seed),
            Permutations = permutations,
        };
    }
}
