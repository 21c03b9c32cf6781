using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Double;

namespace Activations.Probing.Statistics;

/// <summary>Rows as one row-major block of float64, [Rows, Width].</summary>
public sealed record RowMatrix(double[] Data, int Rows, int Width)
{
    public ReadOnlySpan<double> Row(int i) => Data.AsSpan(i * Width, Width);
}

/// <summary>
/// One training set's view of the data: the mean and scale of its rows (from those rows only), and every row in an
/// orthonormal basis of the span of its standardised training rows. An L2-penalised linear model's weights lie in
/// that span (at the optimum w/C is a combination of the training rows), so fitting in the basis (r ≤ training rows
/// coordinates) gives exactly the d-dimensional solution, w = Σ_t α_t x̃_t, at a fraction of the cost when d ≫ n.
/// The basis comes from the Gram matrix: K = X̃_T X̃_Tᵀ = U Λ Uᵀ, features of row i = (x̃_i · X̃_T) U Λ^-½.
/// </summary>
internal sealed class StandardisedBasis
{
    readonly double[] mean;
    readonly double[] scale;
    readonly int[] trainRows;
    readonly Matrix<double> toCoefficients; // [n_t, r]: U Λ^-½

    /// <summary>Every row's coordinates, row-major [Rows, Rank].</summary>
    public double[] Features { get; }

    public int Rows { get; }

    public int Rank { get; }

    StandardisedBasis(double[] mean, double[] scale, int[] trainRows, Matrix<double> toCoefficients, double[] features, int rows)
    {
        this.mean = mean;
        this.scale = scale;
        this.trainRows = trainRows;
        this.toCoefficients = toCoefficients;
        Features = features;
        Rows = rows;
        Rank = toCoefficients.ColumnCount;
    }

    public static StandardisedBasis Build(RowMatrix x, bool[] train)
    {
        var d = x.Width;
        var trainRows = Enumerable.Range(0, x.Rows).Where(i => train[i]).ToArray();
        var mean = new double[d];
        var scale = new double[d];
        foreach (var t in trainRows)
        {
            var row = x.Row(t);
            for (var k = 0; k < d; k++)
            {
                mean[k] += row[k];
            }
        }
        for (var k = 0; k < d; k++)
        {
            mean[k] /= trainRows.Length;
        }
        foreach (var t in trainRows)
        {
            var row = x.Row(t);
            for (var k = 0; k < d; k++)
            {
                scale[k] += (row[k] - mean[k]) * (row[k] - mean[k]);
            }
        }
        for (var k = 0; k < d; k++)
        {
            scale[k] = Math.Sqrt(scale[k] / trainRows.Length); // population, as scikit-learn's StandardScaler
            if (scale[k] <= 1e-8 * Math.Max(1, Math.Abs(mean[k])))
            {
                scale[k] = 1; // a constant feature is left unscaled
            }
        }
        var standardised = new double[x.Rows * d]; // [n, d]
        for (var i = 0; i < x.Rows; i++)
        {
            for (var k = 0; k < d; k++)
            {
                standardised[i * d + k] = (x.Data[i * d + k] - mean[k]) / scale[k];
            }
        }
        var cross = DenseMatrix.Create(x.Rows, trainRows.Length, (i, t) => Dot(standardised.AsSpan(i * d, d), standardised.AsSpan(trainRows[t] * d, d))); // [n, n_t]: x̃_i · x̃_t
        var gram = DenseMatrix.Create(trainRows.Length, trainRows.Length, (t, u) => cross[trainRows[t], u]); // [n_t, n_t]
        var evd = gram.Evd(Symmetricity.Symmetric);
        var eigenvalues = evd.EigenValues.Real();
        var largest = eigenvalues.Maximum();
        var kept = Enumerable.Range(0, eigenvalues.Count).Where(j => eigenvalues[j] > largest * 1e-12).ToArray();
        var toCoefficients = DenseMatrix.Create(trainRows.Length, kept.Length, (t, j) => evd.EigenVectors[t, kept[j]] / Math.Sqrt(eigenvalues[kept[j]]));
        var features = cross.Multiply(toCoefficients); // [n, r]
        return new StandardisedBasis(mean, scale, trainRows, toCoefficients, RowMajor(features), x.Rows);
    }

    /// <summary>
    /// A model fitted in this basis, in raw activation space: decision = x · direction + bias. With w̃ = X̃_Tᵀ U Λ^-½ z
    /// (standardised space), direction = w̃ / σ and bias = b - μ · direction.
    /// </summary>
    public (double[] Direction, double Bias) ToRawSpace(RowMatrix x, double[] z, double b)
    {
        var d = x.Width;
        var alpha = toCoefficients.Multiply(DenseVector.OfArray(z)); // [n_t]: weight of each standardised training row
        var direction = new double[d];
        for (var t = 0; t < trainRows.Length; t++)
        {
            var row = x.Row(trainRows[t]);
            for (var k = 0; k < d; k++)
            {
                direction[k] += alpha[t] * (row[k] - mean[k]) / scale[k];
            }
        }
        var bias = b;
        for (var k = 0; k < d; k++)
        {
            direction[k] /= scale[k];
            bias -= mean[k] * direction[k];
        }
        return (direction, bias);
    }

    /// <summary>a · b, in SIMD lanes (the Gram matrix is most of the cost when d ≫ n).</summary>
    static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        var lanes = System.Numerics.Vector<double>.Count;
        var sum = System.Numerics.Vector<double>.Zero;
        var k = 0;
        for (; k <= a.Length - lanes; k += lanes)
        {
            sum += new System.Numerics.Vector<double>(a[k..]) * new System.Numerics.Vector<double>(b[k..]);
        }
        var total = System.Numerics.Vector.Sum(sum);
        for (; k < a.Length; k++)
        {
            total += a[k] * b[k];
        }
        return total;
    }

    static double[] RowMajor(Matrix<double> m)
    {
        var data = new double[m.RowCount * m.ColumnCount];
        for (var i = 0; i < m.RowCount; i++)
        {
            for (var j = 0; j < m.ColumnCount; j++)
            {
                data[i * m.ColumnCount + j] = m[i, j];
            }
        }
        return data;
    }
}
