using Activations.Contracts;
using Microsoft.Extensions.Logging;

namespace Activations.Coordinator.Inputs;

/// <summary>A pair chosen for capture and the question text that will be run through the model.</summary>
public sealed record SelectedPair(string PairId, string Question);

/// <summary>A pair with a response that a cap left out.</summary>
public sealed record CappedPair(string PairId, bool Faithful);

/// <summary>
/// The pairs to capture, per class, in the order of the scores CSV (the row order of the output tensors); the pairs
/// without a response for the variant; and those with one that the caps left out.
/// </summary>
public sealed record SelectedPairs(
    IReadOnlyList<SelectedPair> Faithful,
    IReadOnlyList<SelectedPair> Unfaithful,
    IReadOnlyList<string> WithoutResponse)
{
    public IReadOnlyList<CappedPair> OverCap { get; init; } = [];
}

/// <summary>How many pairs of each class to keep and which question variant to run.</summary>
public sealed record SelectionLimits
{
    public const int DefaultMaxFaithful = 30;
    public const int DefaultMaxUnfaithful = 20;
    public const string DefaultVariant = "q1";

    public int MaxFaithful { get; init; } = DefaultMaxFaithful;
    public int MaxUnfaithful { get; init; } = DefaultMaxUnfaithful;

    /// <summary>The seed runs q1 only: q1 and q2 are the same question with the order swapped.</summary>
    public string Variant { get; init; } = DefaultVariant;
}

/// <summary>
/// Chooses the pairs to capture as the seed does: faithful and unfaithful ids in CSV order, kept only where the
/// responses file has the question for the variant, then the first <c>max_faithful</c> / <c>max_unfaithful</c>.
/// </summary>
public static class PairSelection
{
    /// <summary>Stands in for the file name in errors about the options, which come from the command line.</summary>
    public const string OptionsSource = "options";

    public static SelectedPairs Select(
        IReadOnlyList<ScoreRow> scores, ResponseSet responses, SelectionLimits limits, ILogger logger)
    {
        Validate(limits);

        var faithful = new List<SelectedPair>();
        var unfaithful = new List<SelectedPair>();
        var withoutResponse = new List<string>();
        var faithfulFound = 0;
        var unfaithfulFound = 0;
        foreach (var score in scores)
        {
            if (score.IsFaithful) faithfulFound++; else unfaithfulFound++;
            if (!responses.TryGet(score.PairId, limits.Variant, out var response))
            {
                withoutResponse.Add(score.PairId);
                continue;
            }
            (score.IsFaithful ? faithful : unfaithful).Add(new SelectedPair(score.PairId, response.Question));
        }

        // The same lines the seed prints, so runs can be compared by eye.
        logger.LogInformation("Found {FaithfulCount} faithful pairs", faithfulFound);
        logger.LogInformation("Found {UnfaithfulCount} unfaithful pairs", unfaithfulFound);
        if (withoutResponse.Count > 0)
        {
            // Not an error: the capture goes on with the pairs that have a question.
            logger.LogWarning(
                "{MissingCount} pairs in the scores have no {Variant} response in {ResponsesPath} and are skipped: {MissingPairIds}",
                withoutResponse.Count, limits.Variant, responses.Path, string.Join(", ", withoutResponse));
        }

        var usedFaithful = faithful.Take(limits.MaxFaithful).ToList();
        var usedUnfaithful = unfaithful.Take(limits.MaxUnfaithful).ToList();
        logger.LogInformation("Using {UsedFaithfulCount} faithful pairs (capped at max_faithful={MaxFaithful})",
            usedFaithful.Count, limits.MaxFaithful);
        logger.LogInformation("Using {UsedUnfaithfulCount} unfaithful pairs (capped at max_unfaithful={MaxUnfaithful})",
            usedUnfaithful.Count, limits.MaxUnfaithful);

        return new SelectedPairs(usedFaithful, usedUnfaithful, withoutResponse)
        {
            OverCap = [.. faithful.Skip(limits.MaxFaithful).Select(p => new CappedPair(p.PairId, true)),
                .. unfaithful.Skip(limits.MaxUnfaithful).Select(p => new CappedPair(p.PairId, false))],
        };
    }

    static void Validate(SelectionLimits limits)
    {
        if (limits.MaxFaithful < 0)
        {
            throw new InvalidInputException(OptionsSource, $"must be 0 or more, got {limits.MaxFaithful}", field: "max_faithful");
        }
        if (limits.MaxUnfaithful < 0)
        {
            throw new InvalidInputException(OptionsSource, $"must be 0 or more, got {limits.MaxUnfaithful}", field: "max_unfaithful");
        }
        if (!ResponsesJsonlReader.Variants.Contains(limits.Variant))
        {
            throw new InvalidInputException(OptionsSource,
                $"'{limits.Variant}' is not one of {string.Join(", ", ResponsesJsonlReader.Variants)}", field: "variant");
        }
    }
}
