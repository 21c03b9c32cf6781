using TorchSharp;
using static TorchSharp.torch;

namespace Activations.GpuWorker.Model;

/// <summary>RMSNorm as Hugging Face computes it: in float32, then the weight times the result cast back.</summary>
public sealed class Qwen2RmsNorm : IDisposable
{
    readonly Tensor weight;
    readonly double eps;

    public Qwen2RmsNorm(IWeightSource weights, string name, int size, double eps)
    {
        weight = weights.Read(name, [size]);
        this.eps = eps;
    }

    public Tensor Forward(Tensor x)
    {
        var x32 = x.to(ScalarType.Float32);
        var variance = x32.pow(2).mean([-1], keepdim: true);
        var normed = x32 * torch.rsqrt(variance + eps);
        return weight * normed.to(x.dtype);
    }

    public void Dispose() => weight.Dispose();
}
