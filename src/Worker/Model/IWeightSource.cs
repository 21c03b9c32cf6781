using TorchSharp;

namespace Activations.Worker.Model;

/// <summary>Hands out one named weight at a time, in the compute dtype and on the compute device.</summary>
public interface IWeightSource
{
    torch.ScalarType Dtype { get; }
    torch.Device Device { get; }

    /// <summary>
    /// Fills <paramref name="destination"/> (whose shape the weight must have) with <paramref name="name"/>
    /// (a Hugging Face tensor name). Reading into a slice of a fused tensor leaves no temporary copy behind,
    /// which keeps the process's peak memory near the weights' size.
    /// </summary>
    void ReadInto(string name, torch.Tensor destination);

    /// <summary>Reads <paramref name="name"/> into a new tensor of <paramref name="shape"/>.</summary>
    torch.Tensor Read(string name, long[] shape)
    {
        var tensor = torch.empty(shape, Dtype, device: Device);
        try
        {
            ReadInto(name, tensor);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>Reads several weights stacked along dim 0 into one tensor (fused projections).</summary>
    torch.Tensor ReadStacked(params (string Name, long[] Shape)[] parts)
    {
        var rows = parts.Sum(p => p.Shape[0]);
        var fused = torch.empty([rows, .. parts[0].Shape[1..]], Dtype, device: Device);
        try
        {
            long row = 0;
            foreach (var (name, shape) in parts)
            {
                using var slice = fused.narrow(0, row, shape[0]);
                ReadInto(name, slice);
                row += shape[0];
            }
            return fused;
        }
        catch
        {
            fused.Dispose();
            throw;
        }
    }
}

/// <summary>Another source's weights, placed on <paramref name="device"/>: for the layers of a model split over devices.</summary>
public sealed class PlacedWeightSource(IWeightSource inner, torch.Device device) : IWeightSource
{
    public torch.ScalarType Dtype => inner.Dtype;

    public torch.Device Device => device;

    public void ReadInto(string name, torch.Tensor destination) => inner.ReadInto(name, destination);
}
