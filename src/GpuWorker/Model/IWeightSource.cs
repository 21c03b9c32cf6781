using TorchSharp;

namespace Activations.GpuWorker.Model;

/// <summary>Hands out one named weight at a time, already in the compute dtype and on the compute device.</summary>
public interface IWeightSource
{
    torch.ScalarType Dtype { get; }
    torch.Device Device { get; }

    /// <summary>Reads <paramref name="name"/> (a Hugging Face tensor name), checking it has <paramref name="shape"/>.</summary>
    torch.Tensor Read(string name, long[] shape);
}
