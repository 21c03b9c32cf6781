using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Model;

/// <summary>
/// RoPE in the rotate-half layout (cos/sin of cat(freqs, freqs)), with the frequencies and angles computed
/// in float32 as Hugging Face does, then cast to the compute dtype.
/// </summary>
public sealed class Qwen2RotaryEmbedding : IDisposable
{
    readonly Tensor inverseFrequencies;
    readonly ScalarType dtype;
    Tensor? cos;
    Tensor? sin;

    public Qwen2RotaryEmbedding(int headDim, double theta, ScalarType dtype, Device device)
    {
        this.dtype = dtype;
        using var exponents = torch.arange(0, headDim, 2, ScalarType.Int64, device).to(ScalarType.Float32) / headDim;
        using var powers = torch.pow(torch.tensor((float)theta, ScalarType.Float32, device), exponents);
        inverseFrequencies = powers.reciprocal();
    }

    /// <summary>cos and sin for positions 0..length-1, each [length, head_dim]; cached for the longest length seen.</summary>
    public (Tensor Cos, Tensor Sin) ForLength(long length)
    {
        if (cos is null || cos.shape[0] < length)
        {
            cos?.Dispose();
            sin?.Dispose();
            using var scope = torch.NewDisposeScope();
            var positions = torch.arange(0, length, ScalarType.Int64, inverseFrequencies.device).to(ScalarType.Float32);
            var frequencies = torch.outer(positions, inverseFrequencies);
            var angles = torch.cat([frequencies, frequencies], -1);
            cos = angles.cos().to(dtype).DetachFromDisposeScope();
            sin = angles.sin().to(dtype).DetachFromDisposeScope();
        }
        return (cos.narrow(0, 0, length), sin!.narrow(0, 0, length));
    }

    /// <summary>x * cos + rotate_half(x) * sin, for x [batch, heads, seq, head_dim].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        var half = x.shape[^1] / 2;
        var rotated = torch.cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        return x * cos + rotated * sin;
    }

    public void Dispose()
    {
        inverseFrequencies.Dispose();
        cos?.Dispose();
        sin?.Dispose();
    }
}
