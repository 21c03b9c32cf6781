using Activations.Worker.Capture;

namespace Activations.Worker.Tests;

public class TokenBudgetBatcherTests
{
    /// <summary>Length mixes that pad badly when cut in input order or in fixed-size sorted chunks.</summary>
    public static TheoryData<string, int[]> Mixes()
    {
        var random = new Random(10);
        return new TheoryData<string, int[]>
        {
            { "two long among short", [.. Enumerable.Repeat(15, 24), 138, .. Enumerable.Repeat(14, 24), 151] },
            { "one of each length 1..300", [.. Enumerable.Range(1, 300).OrderBy(_ => random.Next())] },
            { "powers of two", [.. Enumerable.Range(0, 13).SelectMany(p => Enumerable.Repeat(1 << p, 5))] },
            { "bimodal 1 and 4096", [.. Enumerable.Range(0, 64).Select(i => i % 2 == 0 ? 1 : 4096)] },
            { "uniform 1..4096", [.. Enumerable.Range(0, 500).Select(_ => random.Next(1, 4097))] },
            { "heavy tail", [.. Enumerable.Range(0, 400).Select(_ => (int)Math.Min(4096, 10 / Math.Pow(random.NextDouble() + 1e-9, 0.8)))] },
            { "a tenth long", [.. Enumerable.Range(0, 100).Select(i => i % 10 == 0 ? 100 + 7 * i : 14 + i % 3)] },
            { "one question", [4096] },
        };
    }

    [Theory]
    [MemberData(nameof(Mixes))]
    public void Every_micro_batch_pads_at_most_ten_percent_and_keeps_its_limits(string mix, int[] lengths)
    {
        foreach (var (maxBatch, budget) in new[] { (32, 2048), (1, 2048), (256, 16384), (8, 64) })
        {
            var batches = new TokenBudgetBatcher(maxBatch, budget).Plan(lengths);
            Assert.Equal(Enumerable.Range(0, lengths.Length), batches.SelectMany(b => b).Order());
            foreach (var batch in batches)
            {
                var padded = (long)batch.Length * batch.Max(i => lengths[i]);
                var real = batch.Sum(i => (long)lengths[i]);
                Assert.True(padded <= TokenBudgetBatcher.MaxPaddingRatio * real, $"{mix}: {padded} padded for {real} real");
                Assert.True(batch.Length <= maxBatch, mix);
                Assert.True(batch.Length == 1 || padded <= budget, $"{mix}: {padded} padded tokens over the budget {budget}");
            }
        }
    }

    [Fact]
    public void The_mixes_are_adversarial_for_sorted_fixed_size_chunks()
    {
        // The test's own power: cutting sorted questions into chunks of 32, as the engine used to, pads far past 10%.
        var lengths = (int[])Mixes().Single(row => (string)row[0] == "two long among short")[1];
        var chunks = lengths.OrderDescending().Chunk(32).ToList();
        Assert.True(chunks.Sum(c => c.Length * (long)c.Max()) > 1.5 * lengths.Sum());
    }

    [Fact]
    public void A_long_question_never_drags_short_ones_to_its_length()
    {
        int[] lengths = [.. Enumerable.Repeat(14, 15), 800, .. Enumerable.Repeat(13, 16)];
        var batches = new TokenBudgetBatcher(32, 2048).Plan(lengths);
        Assert.Equal(2, batches.Count);
        Assert.Equal([15], batches[0]);
        Assert.Equal(31, batches[1].Length);
        // Longest first, ties in input order.
        Assert.Equal([.. Enumerable.Range(0, 15), .. Enumerable.Range(16, 16)], batches[1]);
    }

    [Fact]
    public void The_token_budget_splits_equal_lengths_and_a_question_over_it_runs_alone()
    {
        int[] lengths = [.. Enumerable.Repeat(100, 50), 5000];
        var batches = new TokenBudgetBatcher(32, 2048).Plan(lengths);
        Assert.Equal([50], batches[0]);
        Assert.Equal([20, 20, 10], batches.Skip(1).Select(b => b.Length));
    }

    [Fact]
    public void The_default_budget_is_per_device()
    {
        Assert.Equal(TokenBudgetBatcher.CpuDefaultTokenBudget, TokenBudgetBatcher.DefaultTokenBudget(TorchSharp.DeviceType.CPU));
        Assert.Equal(TokenBudgetBatcher.CudaDefaultTokenBudget, TokenBudgetBatcher.DefaultTokenBudget(TorchSharp.DeviceType.CUDA));
        Assert.True(TokenBudgetBatcher.CudaDefaultTokenBudget > TokenBudgetBatcher.CpuDefaultTokenBudget);
    }
}
