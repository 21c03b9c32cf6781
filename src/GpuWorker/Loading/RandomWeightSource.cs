using Activations.GpuWorker.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.GpuWorker.Loading;

/// <summary>
/// Random weights of the right shapes (N(0, 0.02), norms near 1), made directly in the compute dtype:
/// for benchmarks of real model sizes where the real weights cannot be downloaded.
/// </summary>
public sealed class RandomWeightSource(ScalarType dtype, Device device, long seed = 7) : IWeightSource
{
    readonly Generator generator = new Generator((ulong)seed, device);

    public ScalarType Dtype => dtype;

    public Device Device => device;

    public long BytesLoaded { get; private set; }

    public Tensor Read(string name, long[] shape)
    {
        using var noGrad = torch.no_grad();
        var tensor = torch.empty(shape, dtype, device);
        if (name.EndsWith("norm.weight", StringComparison.Ordinal))
        {
            tensor.normal_(1.0, 0.1, generator);
        }
        else
        {
            tensor.uniform_(-0.035, 0.035, generator); // std 0.02, and much faster to draw than normal_
        }
        BytesLoaded += tensor.NumberOfElements * tensor.ElementSize;
        return tensor;
    }
}
