using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Double;

namespace Activations.Probing.Statistics;

/// <summary>The rows on their first two principal components (of the standardised rows), for a picture.</summary>
public sealed record PcaView(double[] First, double[] Second, double FirstShare, double SecondShare)
{
    public static PcaView Of(RowMatrix x)
    {
        var d = x.Width;
        var mean = new double[d];
        var scale = new double[d];
        for (var k = 0; k < d; k++)
        {
            for (var i = 0; i < x.Rows; i++)
            {
                mean[k] += x.Data[i * d + k] / x.Rows;
            }
            for (var i = 0; i < x.Rows; i++)
            {
                scale[k] += Math.Pow(x.Data[i * d + k] - mean[k], 2) / x.Rows;
            }
            scale[k] = Math.Sqrt(scale[k]) is var s && s > 1e-8 * Math.Max(1, Math.Abs(mean[k])) ? s : 1;
        }
        var standardised = DenseMatrix.Create(x.Rows, d, (i, k) => (x.Data[i * d + k] - mean[k]) / scale[k]);
        // Scores on the principal axes are U S, from the eigenvectors of the n × n Gram matrix (n ≪ d).
        var evd = standardised.TransposeAndMultiply(standardised).Evd(Symmetricity.Symmetric);
        var eigenvalues = evd.EigenValues.Real();
        var order = Enumerable.Range(0, eigenvalues.Count).OrderByDescending(j => eigenvalues[j]).ToArray();
        var total = eigenvalues.Sum();
        double[] Scores(int j) => Enumerable.Range(0, x.Rows).Select(i => evd.EigenVectors[i, order[j]] * Math.Sqrt(Math.Max(0, eigenvalues[order[j]]))).ToArray();
        return new PcaView(Scores(0), Scores(1), eigenvalues[order[0]] / total, eigenvalues[order[1]] / total);
    }
}
