using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Model;

/// <summary>RMSNorm as Hugging Face computes it: in float32, then the weight times the result cast back.</summary>
public sealed class RmsNorm : IDisposable
{
    readonly Tensor weight;
    readonly double eps;

    public RmsNorm(IWeightSource weights, string name, int size, double eps)
    {
        weight = weights.Read(name, [size]);
        this.eps = eps;
    }

    public Tensor Forward(Tensor x)
    {
        // Its own scope: the float32 temporaries are freed here, not at the layer's end.
        using var scope = torch.NewDisposeScope();
        var x32 = x.to(ScalarType.Float32);
        // In place only on tensors made here: x32 may share x's storage when x is float32.
        var inverseRms = x32.square().mean([-1], keepdim: true).add_(eps).rsqrt_();
        return (x32 * inverseRms).to(x.dtype).mul_(weight).MoveToOuterDisposeScope();
    }

    public void Dispose() => weight.Dispose();
}
