using Activations.Contracts;
using Activations.Worker.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Loading;

/// <summary>Weights read from a model folder's safetensors, cast to the compute dtype and moved to the device as read.</summary>
public sealed class SafetensorsWeightSource(ModelFolder folder, ScalarType dtype, Device device) : IWeightSource
{
    readonly List<string> namesRead = [];

    public ScalarType Dtype => dtype;

    public Device Device => device;

    /// <summary>The tensors read so far, in order: proof of what was (and was not) loaded.</summary>
    public IReadOnlyList<string> NamesRead => namesRead;

    /// <summary>Bytes of the weights as held in memory (compute dtype).</summary>
    public long BytesLoaded { get; private set; }

    public void ReadInto(string name, Tensor destination)
    {
        if (!folder.TensorFiles.TryGetValue(name, out var file))
        {
            throw new InvalidInputException(folder.Path, $"the weights have no tensor '{name}'");
        }
        var stored = file.Entries[name].Shape;
        if (!stored.SequenceEqual(destination.shape))
        {
            throw new InvalidInputException(file.Path, $"tensor '{name}' has shape [{string.Join(", ", stored)}], config.json implies [{string.Join(", ", destination.shape)}]");
        }
        namesRead.Add(name);
        file.ReadInto(name, destination);
        BytesLoaded += destination.NumberOfElements * destination.ElementSize;
    }
}
