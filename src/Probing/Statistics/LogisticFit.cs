using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Double;
using MathNet.Numerics.Optimization;

namespace Activations.Probing.Statistics;

/// <summary>
/// One L2-regularised logistic regression, minimised with Math.NET Numerics' L-BFGS (with its line search):
/// over w [r] and an unpenalised intercept b,
/// <c>( Σ_i s_i · log(1 + exp(-y±_i (x_i · w + b))) + ‖w‖² / (2C) ) / n</c>, the same minimiser as scikit-learn's
/// <c>LogisticRegression(C, class_weight=…)</c> with sample weights s (n: the rows with s_i &gt; 0).
/// </summary>
internal static class LogisticFit
{
    /// <summary>Gradient norm accepted as converged (the objective is a mean, so this is scale-free).</summary>
    internal const double GradientTolerance = 1e-8;

    const int MaxIterations = 10_000;

    /// <param name="features">Row-major [rows, width]: the training rows only.</param>
    /// <param name="labels">1 = faithful, 0 = unfaithful, per training row.</param>
    /// <param name="weights">Per training row, &gt; 0.</param>
    /// <param name="start">[w, b] to start from (a neighbouring C's solution), else zeros.</param>
    /// <returns>w [width] and b.</returns>
    internal static (double[] W, double B) Fit(double[] features, int width, int[] labels, double[] weights, double c, double[]? start = null)
    {
        var rows = labels.Length;
        var objective = ObjectiveFunction.Gradient(theta =>
        {
            // theta = [w (width), b]
            var w = theta.AsArray() ?? theta.ToArray();
            var b = w[width];
            var gradient = new double[width + 1];
            double value = 0;
            for (var i = 0; i < rows; i++)
            {
                var z = b;
                var offset = i * width;
                for (var j = 0; j < width; j++)
                {
                    z += features[offset + j] * w[j];
                }
                // loss = softplus(z) - y z, computed stably; d loss / dz = sigmoid(z) - y.
                value += weights[i] * ((z > 0 ? z + Math.Log(1 + Math.Exp(-z)) : Math.Log(1 + Math.Exp(z))) - labels[i] * z);
                var residual = weights[i] * ((z > 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z))) - labels[i]);
                for (var j = 0; j < width; j++)
                {
                    gradient[j] += residual * features[offset + j];
                }
                gradient[width] += residual;
            }
            for (var j = 0; j < width; j++)
            {
                value += w[j] * w[j] / (2 * c);
                gradient[j] += w[j] / c;
            }
            for (var j = 0; j <= width; j++)
            {
                gradient[j] /= rows;
            }
            return (value / rows, DenseVector.OfArray(gradient));
        });
        var minimizer = new LimitedMemoryBfgsMinimizer(GradientTolerance, parameterTolerance: 0, functionProgressTolerance: 0, memory: 10, maximumIterations: MaxIterations);
        var result = minimizer.FindMinimum(objective, start is null ? DenseVector.Create(width + 1, 0.0) : DenseVector.OfArray(start));
        var theta = result.MinimizingPoint.ToArray();
        return (theta[..width], theta[width]);
    }
}
