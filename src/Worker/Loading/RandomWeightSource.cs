using Activations.Worker.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Loading;

/// <summary>
/// Random weights of the right shapes (N(0, 0.02), norms near 1), made directly in the compute dtype:
/// for benchmarks of real model sizes where the real weights cannot be downloaded.
/// </summary>
public sealed class RandomWeightSource(ScalarType dtype, Device device, long seed = 7) : IWeightSource
{
    readonly Generator generator = new Generator((ulong)seed, CPU);

    public ScalarType Dtype => dtype;

    public Device Device => device;

    public long BytesLoaded { get; private set; }

    public void ReadInto(string name, Tensor tensor)
    {
        using var noGrad = torch.no_grad();
        var shape = tensor.shape;
        // Filled in slices of rows: drawing into a bf16 tensor may go through a float32 temporary of the same
        // size, which for the embedding alone would be ~1 GB of transient memory the real loader never needs.
        var rowsPerSlice = Math.Max(1, (1L << 22) / Math.Max(1, tensor.NumberOfElements / shape[0]));
        for (long row = 0; row < shape[0]; row += rowsPerSlice)
        {
            using var slice = tensor.narrow(0, row, Math.Min(rowsPerSlice, shape[0] - row));
            if (slice.device_type == DeviceType.CPU)
            {
                Draw(name, slice);
            }
            else
            {
                // TorchSharp's generators are CPU generators: drawn on the host, then copied (the same numbers on every device).
                using var host = torch.empty(slice.shape, slice.dtype);
                Draw(name, host);
                slice.copy_(host);
            }
        }
        BytesLoaded += tensor.NumberOfElements * tensor.ElementSize;
    }

    void Draw(string name, Tensor slice)
    {
        if (name.EndsWith("norm.weight", StringComparison.Ordinal))
        {
            slice.normal_(1.0, 0.1, generator);
        }
        else
        {
            slice.uniform_(-0.035, 0.035, generator); // std 0.02, and much faster to draw than normal_
        }
    }
}
