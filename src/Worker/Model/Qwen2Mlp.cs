using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Activations.Worker.Model;

/// <summary>SwiGLU: down(silu(gate(x)) * up(x)), with gate and up as one fused matmul.</summary>
public sealed class Qwen2Mlp : IDisposable
{
    readonly Tensor gateUpWeight;
    readonly Tensor downWeight;
    readonly long intermediate;

    public Qwen2Mlp(IWeightSource weights, string prefix, Qwen2Config config)
    {
        intermediate = config.IntermediateSize;
        long hidden = config.HiddenSize;
        gateUpWeight = weights.ReadStacked(($"{prefix}.gate_proj.weight", [intermediate, hidden]), ($"{prefix}.up_proj.weight", [intermediate, hidden]));
        downWeight = weights.Read($"{prefix}.down_proj.weight", [hidden, intermediate]);
    }

    public Tensor Forward(Tensor x)
    {
        // Its own scope: [tokens, 2 × intermediate] is the largest activation; freed here, not at the layer's end.
        using var scope = torch.NewDisposeScope();
        // 2-D matmuls, as in the attention.
        var gateUp = F.linear(x.reshape(-1, x.shape[^1]), gateUpWeight);
        var activated = F.silu(gateUp.narrow(-1, 0, intermediate)).mul_(gateUp.narrow(-1, intermediate, intermediate));
        return F.linear(activated, downWeight).view(x.shape).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        gateUpWeight.Dispose();
        downWeight.Dispose();
    }
}
