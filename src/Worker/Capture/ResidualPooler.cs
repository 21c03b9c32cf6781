using Activations.Contracts;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Capture;

/// <summary>Reduces a right-padded hook tensor [batch, seq, width] to one float32 vector per row, over real tokens only.</summary>
public static class ResidualPooler
{
    /// <param name="ends">real tokens per row, int64 [batch] on the residual's device</param>
    /// <param name="leadingBos">whether every row starts with a BOS (skipped by <see cref="Pooling.MeanNoBos"/>)</param>
    /// <returns>[batch, hidden] float32 on the residual's device</returns>
    public static Tensor Pool(Tensor residual, Tensor ends, Pooling pooling, bool leadingBos)
    {
        var batch = residual.shape[0];
        var length = residual.shape[1];
        var hidden = residual.shape[2];
        var device = residual.device;
        var values = residual.to(ScalarType.Float32);
        if (pooling == Pooling.Last)
        {
            var index = (ends - 1).view(batch, 1, 1).expand(batch, 1, hidden);
            return values.gather(1, index).squeeze(1);
        }
        var start = pooling == Pooling.MeanNoBos && leadingBos ? 1 : 0;
        var positions = torch.arange(0, length, ScalarType.Int64, device).unsqueeze(0);
        var inside = positions.lt(ends.unsqueeze(1)).logical_and(positions.ge(start)).to(ScalarType.Float32);
        var counts = inside.sum(1, keepdim: true).clamp_min(1);
        return (values * inside.unsqueeze(-1)).sum(1) / counts;
    }
}
