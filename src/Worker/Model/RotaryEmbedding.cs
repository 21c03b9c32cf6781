using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Model;

/// <summary>
/// RoPE in the rotate-half layout (cos/sin of cat(freqs, freqs)), as HF's LlamaRotaryEmbedding: inverse
/// frequencies from <see cref="ComputeRopeParameters"/>, angles in float32, cos and sin times the attention
/// factor, then cast to the compute dtype. cos/sin are cached per device (a model split over devices uses each).
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    readonly Tensor inverseFrequencies;
    readonly ScalarType dtype;
    readonly Dictionary<string, (Tensor Cos, Tensor Sin)> cache = [];

    public RotaryEmbedding(DecoderConfig config, ScalarType dtype)
    {
        this.dtype = dtype;
        (inverseFrequencies, AttentionScaling) = ComputeRopeParameters(config);
    }

    /// <summary>HF's attention_scaling: 1 except for yarn.</summary>
    public double AttentionScaling { get; }

    /// <summary>The inverse frequencies [head_dim / 2], float32 on the CPU (a copy).</summary>
    public float[] InverseFrequencies => HostCopy.ToArray<float>(inverseFrequencies);

    /// <summary>cos and sin for positions 0..length-1 on <paramref name="device"/>, each [length, head_dim]; cached for the longest length seen.</summary>
    public (Tensor Cos, Tensor Sin) ForLength(long length, Device device)
    {
        var key = device.ToString();
        if (!cache.TryGetValue(key, out var cached) || cached.Cos.shape[0] < length)
        {
            cached.Cos?.Dispose();
            cached.Sin?.Dispose();
            using var scope = torch.NewDisposeScope();
            var positions = torch.arange(0, length, ScalarType.Int64).to(ScalarType.Float32);
            var frequencies = torch.outer(positions, inverseFrequencies);
            var angles = torch.cat([frequencies, frequencies], -1);
            var cos = angles.cos();
            var sin = angles.sin();
            if (AttentionScaling != 1.0)
            {
                cos = cos * AttentionScaling;
                sin = sin * AttentionScaling;
            }
            cached = (cos.to(dtype, device).DetachFromDisposeScope(), sin.to(dtype, device).DetachFromDisposeScope());
            cache[key] = cached;
        }
        return (cached.Cos.narrow(0, 0, length), cached.Sin.narrow(0, 0, length));
    }

    /// <summary>x * cos + rotate_half(x) * sin, for x [batch, heads, seq, head_dim].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        var half = x.shape[^1] / 2;
        var rotated = torch.cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        return x * cos + rotated * sin;
    }

    /// <summary>
    /// (inv_freq [head_dim / 2] float32 on the CPU, attention_factor), step for step as HF's modeling_rope_utils
    /// (ROPE_INIT_FUNCTIONS) for the config's rope type. PyTorch's `c / t` is `t.reciprocal() * c`, so it is here too.
    /// </summary>
    public static (Tensor InvFreq, double AttentionFactor) ComputeRopeParameters(DecoderConfig config) => config.RopeScaling switch
    {
        null => ComputeDefaultRopeParameters(config),
        Llama3RopeScaling llama3 => ComputeLlama3Parameters(config, llama3),
        YarnRopeScaling yarn => ComputeYarnParameters(config, yarn),
        var other => throw new NotSupportedException(other.GetType().Name),
    };

    /// <summary>HF _compute_default_rope_parameters: inv_freq = 1 / base^(arange(0, dim, 2) / dim), in float32.</summary>
    static (Tensor, double) ComputeDefaultRopeParameters(DecoderConfig config)
    {
        var dim = config.HeadDim;
        using var scope = torch.NewDisposeScope();
        var exponents = torch.arange(0, dim, 2, ScalarType.Int64).to(ScalarType.Float32) / dim;
        var invFreq = torch.pow(torch.tensor((float)config.RopeTheta, ScalarType.Float32), exponents).reciprocal();
        return (invFreq.MoveToOuterDisposeScope(), 1.0);
    }

    /// <summary>HF _compute_llama3_parameters: low frequencies divided by factor, high ones kept, a smooth band between.</summary>
    static (Tensor, double) ComputeLlama3Parameters(DecoderConfig config, Llama3RopeScaling scaling)
    {
        var (defaultInvFreq, attentionFactor) = ComputeDefaultRopeParameters(config);
        using var scope = torch.NewDisposeScope();
        var invFreq = defaultInvFreq.MoveToOuterDisposeScope();
        var factor = scaling.Factor;
        var lowFreqFactor = scaling.LowFreqFactor;
        var highFreqFactor = scaling.HighFreqFactor;
        double oldContextLen = scaling.OriginalMaxPositionEmbeddings;

        var lowFreqWavelen = oldContextLen / lowFreqFactor;
        var highFreqWavelen = oldContextLen / highFreqFactor;

        var wavelen = invFreq.reciprocal() * (2 * Math.PI);
        // wavelen < high_freq_wavelen: do nothing; wavelen > low_freq_wavelen: divide by factor
        var invFreqLlama = torch.where(wavelen > lowFreqWavelen, invFreq / factor, invFreq);
        // otherwise: interpolate between the two, using a smooth factor
        var smoothFactor = (wavelen.reciprocal() * oldContextLen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        var smoothedInvFreq = (1 - smoothFactor) * invFreqLlama / factor + smoothFactor * invFreqLlama;
        var isMediumFreq = (wavelen < highFreqWavelen).logical_not().logical_and((wavelen > lowFreqWavelen).logical_not());
        invFreqLlama = torch.where(isMediumFreq, smoothedInvFreq, invFreqLlama);
        return (invFreqLlama.MoveToOuterDisposeScope(), attentionFactor);
    }

    /// <summary>
    /// HF _compute_yarn_parameters (transformers 4.56 and later): frequencies blended between interpolation (÷ factor)
    /// and extrapolation by a linear ramp over the dims between the beta_fast and beta_slow correction dims, and
    /// attention_factor = 0.1 ln(factor) + 1 (or the mscale / mscale_all_dim ratio, or the config's attention_factor).
    /// </summary>
    static (Tensor, double) ComputeYarnParameters(DecoderConfig config, YarnRopeScaling scaling)
    {
        double @base = config.RopeTheta;
        var dim = config.HeadDim;
        var originalMaxPositionEmbeddings = (double)(scaling.OriginalMaxPositionEmbeddings ?? config.MaxPositionEmbeddings);
        // A config without factor takes the ratio of the context lengths (HF's DeepSeek-V3 note).
        var factor = scaling.Factor ?? config.MaxPositionEmbeddings / originalMaxPositionEmbeddings;
        var attentionFactor = scaling.AttentionFactor;
        var mscale = scaling.Mscale;
        var mscaleAllDim = scaling.MscaleAllDim;

        static double GetMscale(double scale, double mscale = 1) => scale <= 1 ? 1.0 : 0.1 * mscale * Math.Log(scale) + 1.0;

        // Sets the attention factor as suggested in the paper
        if (attentionFactor is null)
        {
            attentionFactor = mscale is { } m && m != 0 && mscaleAllDim is { } all && all != 0
                ? GetMscale(factor, m) / GetMscale(factor, all)
                : GetMscale(factor);
        }

        // beta_fast/beta_slow: as suggested in the paper, default to 32/1 (correspondingly)
        var betaFast = scaling.BetaFast ?? 32;
        var betaSlow = scaling.BetaSlow ?? 1;

        // Inverse dimension formula to find the dimension based on the number of rotations
        static double FindCorrectionDim(double numRotations, int dim, double @base, double maxPositionEmbeddings)
            => dim * Math.Log(maxPositionEmbeddings / (numRotations * 2 * Math.PI)) / (2 * Math.Log(@base));

        static (double Low, double High) FindCorrectionRange(double lowRot, double highRot, int dim, double @base, double maxPositionEmbeddings, bool truncate)
        {
            var low = FindCorrectionDim(lowRot, dim, @base, maxPositionEmbeddings);
            var high = FindCorrectionDim(highRot, dim, @base, maxPositionEmbeddings);
            if (truncate)
            {
                low = Math.Floor(low);
                high = Math.Ceiling(high);
            }
            return (Math.Max(low, 0), Math.Min(high, dim - 1));
        }

        static Tensor LinearRampFactor(double min, double max, int dim)
        {
            if (min == max)
            {
                max += 0.001; // Prevent singularity
            }
            var linearFunc = (torch.arange(dim, ScalarType.Float32) - min) / (max - min);
            return torch.clamp(linearFunc, 0, 1);
        }

        using var scope = torch.NewDisposeScope();
        // "interpolation" = apply the scaling factor; "extrapolation" = the unscaled frequencies.
        var posFreqs = torch.pow(torch.tensor((float)@base, ScalarType.Float32), torch.arange(0, dim, 2, ScalarType.Int64).to(ScalarType.Float32) / dim);
        var invFreqExtrapolation = posFreqs.reciprocal();
        var invFreqInterpolation = (posFreqs * factor).reciprocal();

        var (lowDim, highDim) = FindCorrectionRange(betaFast, betaSlow, dim, @base, originalMaxPositionEmbeddings, scaling.Truncate);

        // Get n-dimensional rotational scaling corrected for extrapolation
        var invFreqExtrapolationFactor = 1 - LinearRampFactor(lowDim, highDim, dim / 2);
        var invFreq = invFreqInterpolation * (1 - invFreqExtrapolationFactor) + invFreqExtrapolation * invFreqExtrapolationFactor;
        return (invFreq.MoveToOuterDisposeScope(), attentionFactor.Value);
    }

    public void Dispose()
    {
        inverseFrequencies.Dispose();
        foreach (var (cos, sin) in cache.Values)
        {
            cos.Dispose();
            sin.Dispose();
        }
    }
}
