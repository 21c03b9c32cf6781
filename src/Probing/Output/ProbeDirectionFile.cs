using System.Collections;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Activations.Probing.Output;

/// <summary>
/// probe_{name}.pt: <c>{'direction': Tensor[d], 'bias': Tensor[]}</c> (float32) in raw activation space, so
/// <c>acts @ direction + bias</c> is the probe's decision value (above 0: faithful). Readable with
/// <c>torch.load(path, weights_only=True)</c>.
/// </summary>
public static class ProbeDirectionFile
{
    public const string DirectionKey = "direction";
    public const string BiasKey = "bias";

    public static void Write(Stream stream, double[] direction, double bias)
    {
        using var scope = NewDisposeScope();
        var state = new Dictionary<string, Tensor>
        {
            [DirectionKey] = tensor(direction, dtype: float64).to(float32).contiguous(),
            [BiasKey] = tensor(bias, dtype: float64).to(float32).contiguous(),
        };
        PyTorchPickler.PickleStateDict(stream, state, leaveOpen: true);
    }

    public static (double[] Direction, double Bias) Read(string path)
    {
        using var scope = NewDisposeScope();
        IDictionary state = PyTorchUnpickler.UnpickleStateDict(path);
        var direction = (Tensor)state[DirectionKey]!;
        var bias = (Tensor)state[BiasKey]!;
        return (direction.to(float64).data<double>().ToArray(), bias.to(float64).item<double>());
    }
}
