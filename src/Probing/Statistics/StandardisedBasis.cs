using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Probing.Statistics;

/// <summary>
/// For each training set: the mean and scale of its rows (from those rows only) and an orthonormal basis of the
/// span of its standardised rows. An L2-penalised linear model's weights lie in that span (at the optimum λw is a
/// combination of the training rows), so fitting in the basis (r ≤ training rows coordinates) gives exactly the
/// solution of the d-dimensional problem, w = Vhᵀ z, at a fraction of the cost when d ≫ n.
/// </summary>
internal sealed class StandardisedBasis : IDisposable
{
    /// <summary>[D, n, r]: every row, standardised with set s's mean and scale, in set s's basis.</summary>
    public required Tensor Features { get; init; }

    /// <summary>[D, d] and [D, d]: each set's mean and scale (1 where a feature is constant in the set).</summary>
    public required Tensor Mean { get; init; }

    public required Tensor Scale { get; init; }

    /// <summary>[D, r, d]: each set's basis, rows orthonormal.</summary>
    public required Tensor Basis { get; init; }

    /// <summary>Datasets processed together; bounds the [chunk, n, d] temporaries.</summary>
    const int Chunk = 16;

    /// <param name="x">[n, d] float64, every row.</param>
    /// <param name="trainMasks">[D, n] float64: 1 for the rows in set s.</param>
    public static StandardisedBasis Build(Tensor x, Tensor trainMasks)
    {
        var sets = trainMasks.shape[0];
        var features = new List<Tensor>();
        var means = new List<Tensor>();
        var scales = new List<Tensor>();
        var bases = new List<Tensor>();
        for (long start = 0; start < sets; start += Chunk)
        {
            using var scope = NewDisposeScope();
            var masks = trainMasks.narrow(0, start, Math.Min(Chunk, sets - start)); // [C, n]
            var counts = masks.sum(1, keepdim: true); // [C, 1]
            var mean = masks.matmul(x) / counts; // [C, d]
            var centred = x.unsqueeze(0) - mean.unsqueeze(1); // [C, n, d]
            var variance = (masks.unsqueeze(2) * centred.square()).sum(1) / counts; // [C, d], population variance
            var scale = variance.sqrt();
            // As scikit-learn's StandardScaler: a constant feature is left unscaled.
            scale = where(scale <= 1e-8 * mean.abs().clamp_min(1.0), ones_like(scale), scale);
            var standardised = centred / scale.unsqueeze(1); // [C, n, d]
            var (_, _, vh) = linalg.svd(standardised * masks.unsqueeze(2), fullMatrices: false); // vh [C, r, d]
            features.Add(standardised.matmul(vh.transpose(1, 2)).MoveToOuterDisposeScope()); // [C, n, r]
            means.Add(mean.MoveToOuterDisposeScope());
            scales.Add(scale.MoveToOuterDisposeScope());
            bases.Add(vh.MoveToOuterDisposeScope());
        }
        return new StandardisedBasis
        {
            Features = Concat(features),
            Mean = Concat(means),
            Scale = Concat(scales),
            Basis = Concat(bases),
        };
    }

    static Tensor Concat(List<Tensor> parts)
    {
        var all = cat(parts, 0);
        foreach (var part in parts)
        {
            part.Dispose();
        }
        return all;
    }

    public void Dispose()
    {
        Features.Dispose();
        Mean.Dispose();
        Scale.Dispose();
        Basis.Dispose();
    }
}
