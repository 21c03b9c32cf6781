using TorchSharp;

namespace Activations.Worker.Capture;

/// <summary>
/// Cuts questions into micro-batches for right-padded forward passes: longest first, each micro-batch at most
/// <see cref="MaxBatchSize"/> rows, at most <see cref="TokenBudget"/> padded tokens (rows × its longest row) unless
/// it is one row alone, and at most <see cref="MaxPaddingRatio"/> padded tokens per real token. So padding costs at
/// most 10% on any mix of lengths, and a long question runs with questions of about its length, never dragging
/// short ones to it.
/// </summary>
public sealed class TokenBudgetBatcher
{
    /// <summary>Padded tokens over real tokens, at most, in every micro-batch (so over any set of them).</summary>
    public const double MaxPaddingRatio = 1.1;

    /// <summary>
    /// Default padded tokens per forward pass on the CPU: past a few hundred rows a matmul runs at the CPU's limit, and
    /// the activations (the MLP's [tokens, 2 × intermediate]) stay a small fraction of the weights.
    /// </summary>
    public const int CpuDefaultTokenBudget = 2048;

    /// <summary>Default on CUDA: a GPU needs many more rows per matmul to fill; 16k tokens of 1.5B activations are well under 1 GB in fp16.</summary>
    public const int CudaDefaultTokenBudget = 16384;

    public TokenBudgetBatcher(int maxBatchSize, int tokenBudget)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokenBudget, 1);
        MaxBatchSize = maxBatchSize;
        TokenBudget = tokenBudget;
    }

    public int MaxBatchSize { get; }

    public int TokenBudget { get; }

    public static int DefaultTokenBudget(DeviceType device) => device == DeviceType.CUDA ? CudaDefaultTokenBudget : CpuDefaultTokenBudget;

    /// <summary>
    /// Groups the rows of <paramref name="lengths"/> (tokens per question, each at least 1): every index appears in
    /// exactly one micro-batch; micro-batches come longest first and list their rows longest first (ties in input order).
    /// </summary>
    public IReadOnlyList<int[]> Plan(IReadOnlyList<int> lengths)
    {
        var order = Enumerable.Range(0, lengths.Count).OrderByDescending(i => lengths[i]).ThenBy(i => i).ToArray();
        var batches = new List<int[]>();
        var start = 0;
        while (start < order.Length)
        {
            // Rows come longest first, so the first row sets the padded length; a row that breaks a limit would
            // break it by more after a shorter one, so the batch closes at the first that does.
            long longest = lengths[order[start]];
            long real = longest;
            var end = start + 1;
            while (end < order.Length && end - start < MaxBatchSize)
            {
                var rows = end - start + 1;
                var padded = rows * longest;
                if (padded > TokenBudget || padded > MaxPaddingRatio * (real + lengths[order[end]]))
                {
                    break;
                }
                real += lengths[order[end]];
                end++;
            }
            batches.Add(order[start..end]);
            start = end;
        }
        return batches;
    }
}
