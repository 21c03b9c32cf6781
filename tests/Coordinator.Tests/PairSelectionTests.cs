using Activations.Contracts;
using Activations.Coordinator.Inputs;
using Microsoft.Extensions.Logging;
using static Activations.Coordinator.Tests.Samples;

namespace Activations.Coordinator.Tests;

public sealed class PairSelectionTests : IDisposable
{
    readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    static SelectedPairs SelectSample(SelectionLimits limits, ListLogger<PairSelectionTests> logger) =>
        PairSelection.Select(ScoresCsvReader.Read(ScoresCsv), new ResponsesJsonlReader().Read(ResponsesJsonl), limits, logger);

    [Fact]
    public void Sample_with_the_seed_caps_logs_like_the_seed()
    {
        var logger = new ListLogger<PairSelectionTests>();
        var selected = SelectSample(new SelectionLimits(), logger);

        Assert.Equal(30, selected.Faithful.Count);
        Assert.Equal(15, selected.Unfaithful.Count);
        Assert.Empty(selected.WithoutResponse);
        Assert.Equal(
            [
                "Found 35 faithful pairs",
                "Found 15 unfaithful pairs",
                "Using 30 faithful pairs (capped at max_faithful=30)",
                "Using 15 unfaithful pairs (capped at max_unfaithful=20)",
            ],
            logger.Messages(LogLevel.Information));
        Assert.Empty(logger.Messages(LogLevel.Warning));
    }

    [Fact]
    public void Order_follows_the_csv_and_questions_are_q1()
    {
        var selected = SelectSample(new SelectionLimits(), new ListLogger<PairSelectionTests>());
        var scores = ScoresCsvReader.Read(ScoresCsv);
        Assert.Equal(scores.Where(s => s.IsFaithful).Take(30).Select(s => s.PairId), selected.Faithful.Select(p => p.PairId));
        Assert.Equal(scores.Where(s => !s.IsFaithful).Select(s => s.PairId), selected.Unfaithful.Select(p => p.PairId));
        Assert.Equal(new SelectedPair("num_002", "Which is larger: 909 or 923?"), selected.Faithful[0]);
        Assert.Equal("num_043", selected.Faithful[^1].PairId);
        Assert.Equal(new SelectedPair("num_001", "Which is larger: 661 or 692?"), selected.Unfaithful[0]);
        Assert.Equal("num_048", selected.Unfaithful[^1].PairId);
    }

    [Fact]
    public void Variant_q2_takes_the_q2_questions()
    {
        var selected = SelectSample(new SelectionLimits { Variant = "q2" }, new ListLogger<PairSelectionTests>());
        Assert.Equal(new SelectedPair("num_002", "Which is larger: 923 or 909?"), selected.Faithful[0]);
    }

    [Fact]
    public void Smaller_caps_take_the_first_pairs()
    {
        var logger = new ListLogger<PairSelectionTests>();
        var selected = SelectSample(new SelectionLimits { MaxFaithful = 5, MaxUnfaithful = 3 }, logger);
        Assert.Equal(["num_002", "num_003", "num_004", "num_005", "num_006"], selected.Faithful.Select(p => p.PairId));
        Assert.Equal(["num_001", "num_009", "num_011"], selected.Unfaithful.Select(p => p.PairId));
        Assert.Contains("Using 3 unfaithful pairs (capped at max_unfaithful=3)", logger.Messages(LogLevel.Information));
    }

    [Fact]
    public void Pairs_without_a_response_are_skipped_with_one_warning()
    {
        var scores = _dir.File("s.csv", "pair_id,is_faithful\na,True\nb,False\nc,True\nd,False\n");
        var responses = _dir.File("r.jsonl",
            "{\"pair_id\": \"a\", \"variant\": \"q1\", \"question\": \"A?\"}\n" +
            "{\"pair_id\": \"b\", \"variant\": \"q2\", \"question\": \"B?\"}\n" +
            "{\"pair_id\": \"d\", \"variant\": \"q1\", \"question\": \"D?\"}\n" +
            "{\"pair_id\": \"zz\", \"variant\": \"q1\", \"question\": \"not in the scores\"}\n");
        var logger = new ListLogger<PairSelectionTests>();
        var selected = PairSelection.Select(
            ScoresCsvReader.Read(scores), new ResponsesJsonlReader().Read(responses), new SelectionLimits(), logger);

        Assert.Equal([new SelectedPair("a", "A?")], selected.Faithful);
        Assert.Equal([new SelectedPair("d", "D?")], selected.Unfaithful);
        Assert.Equal(["b", "c"], selected.WithoutResponse);
        var warning = Assert.Single(logger.Messages(LogLevel.Warning));
        Assert.Contains("b, c", warning);
        Assert.Contains("q1", warning);
        Assert.Contains("Found 2 faithful pairs", logger.Messages(LogLevel.Information));
        Assert.Contains("Using 1 faithful pairs (capped at max_faithful=30)", logger.Messages(LogLevel.Information));
    }

    [Theory]
    [InlineData(-1, 20, "max_faithful")]
    [InlineData(30, -5, "max_unfaithful")]
    public void Negative_caps_are_invalid_input(int maxFaithful, int maxUnfaithful, string field)
    {
        var e = Assert.Throws<InvalidInputException>(() => SelectSample(
            new SelectionLimits { MaxFaithful = maxFaithful, MaxUnfaithful = maxUnfaithful }, new ListLogger<PairSelectionTests>()));
        Assert.Equal(field, e.Field);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void Unknown_variant_is_invalid_input()
    {
        var e = Assert.Throws<InvalidInputException>(() =>
            SelectSample(new SelectionLimits { Variant = "q9" }, new ListLogger<PairSelectionTests>()));
        Assert.Equal("variant", e.Field);
    }
}
