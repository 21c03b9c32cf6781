namespace Activations.Probing.Statistics;

/// <summary>Stratified k-fold assignment: each class's rows shuffled, then dealt to the folds in turn.</summary>
internal static class StratifiedFolds
{
    /// <summary>Returns the fold (0..k-1) of each row; every fold gets ⌊n_c/k⌋ or ⌈n_c/k⌉ rows of class c.</summary>
    internal static int[] Assign(ReadOnlySpan<int> labels, int folds, Random random)
    {
        var fold = new int[labels.Length];
        var next = 0; // the second class continues where the first stopped, so fold sizes stay even
        foreach (var cls in new[] { 1, 0 })
        {
            var rows = new List<int>();
            for (var i = 0; i < labels.Length; i++)
            {
                if (labels[i] == cls)
                {
                    rows.Add(i);
                }
            }
            var shuffled = rows.ToArray();
            random.Shuffle(shuffled);
            foreach (var row in shuffled)
            {
                fold[row] = next % folds;
                next++;
            }
        }
        return fold;
    }

    /// <summary>A seed for one random stream: the run's seed, which stream, and the index within it.</summary>
    /// <remarks>HashCode is randomised per process; this mix is fixed, so a seed gives the same splits on every run.</remarks>
    internal static int Seed(int seed, int stream, int index)
    {
        unchecked
        {
            ulong x = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)stream * 0xC2B2AE3D27D4EB4FUL ^ (ulong)(uint)index * 0x165667B19E3779F9UL;
            x ^= x >> 33;
            x *= 0xFF51AFD7ED558CCDUL;
            x ^= x >> 33;
            x *= 0xC4CEB9FE1A85EC53UL;
            x ^= x >> 33;
            return (int)(x & 0x7FFFFFFF);
        }
    }
}
