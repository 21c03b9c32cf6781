using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Activations.Worker.Model;

/// <summary>SwiGLU: down(silu(gate(x)) * up(x)), with gate and up as one fused matmul (HF LlamaMLP / Qwen2MLP / Qwen3MLP).</summary>
public sealed class DecoderMlp : IDisposable
{
    readonly Tensor gateUpWeight;
    readonly Tensor? gateUpBias;
    readonly Tensor downWeight;
    readonly Tensor? downBias;
    readonly long intermediate;

    public DecoderMlp(IWeightSource weights, string prefix, DecoderConfig config)
    {
        intermediate = config.IntermediateSize;
        long hidden = config.HiddenSize;
        gateUpWeight = weights.ReadStacked(($"{prefix}.gate_proj.weight", [intermediate, hidden]), ($"{prefix}.up_proj.weight", [intermediate, hidden]));
        downWeight = weights.Read($"{prefix}.down_proj.weight", [hidden, intermediate]);
        if (config.MlpBias)
        {
            gateUpBias = weights.ReadStacked(($"{prefix}.gate_proj.bias", [intermediate]), ($"{prefix}.up_proj.bias", [intermediate]));
            downBias = weights.Read($"{prefix}.down_proj.bias", [hidden]);
        }
    }

    public Tensor Forward(Tensor x)
    {
        // Its own scope: [tokens, 2 × intermediate] is the largest activation; freed here, not at the layer's end.
        using var scope = torch.NewDisposeScope();
        // 2-D matmuls, as in the attention.
        var gateUp = F.linear(x.reshape(-1, x.shape[^1]), gateUpWeight, gateUpBias);
        var activated = F.silu(gateUp.narrow(-1, 0, intermediate)).mul_(gateUp.narrow(-1, intermediate, intermediate));
        return F.linear(activated, downWeight, downBias).view(x.shape).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        gateUpWeight.Dispose();
        gateUpBias?.Dispose();
        downWeight.Dispose();
        downBias?.Dispose();
    }
}
