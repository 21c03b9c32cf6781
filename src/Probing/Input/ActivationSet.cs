namespace Activations.Probing.Input;

/// <summary>One hook's rows: faithful rows first, then unfaithful, as float64, row-major [Faithful + Unfaithful, Width].</summary>
public sealed record ActivationSet(string FileName, string Stem, string Hook, int Faithful, int Unfaithful, int Width, double[] Rows)
{
    public int Count => Faithful + Unfaithful;

    /// <summary>1 = faithful, 0 = unfaithful, per row.</summary>
    public int[] Labels() => Enumerable.Repeat(1, Faithful).Concat(Enumerable.Repeat(0, Unfaithful)).ToArray();
}

/// <summary>Every hook's rows from one folder, in the model's order, with what its manifest says.</summary>
public sealed record ActivationFolder(string Path, RunDescription Run, IReadOnlyList<ActivationSet> Sets, IReadOnlyList<string> Skipped);
