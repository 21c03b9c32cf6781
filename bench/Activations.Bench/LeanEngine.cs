using Activations.Contracts;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Activations.Worker.Model;
using Activations.Worker.Tokenization;
using Microsoft.Extensions.Logging.Abstractions;

namespace Activations.Bench;

/// <summary>
/// The benchmarks' engine: a model of real shapes with random weights on <see cref="ComputeTarget.Device"/>, built
/// up to the deepest of <c>layers</c> (no lm_head), and the spec capturing those layers' resid_post. The engine
/// owns the model; the tokenizer stays the caller's.
/// </summary>
static class LeanEngine
{
    /// <param name="tokenBudget">padded tokens per forward pass; null: the device's default</param>
    public static (ActivationEngine Engine, CaptureSpec Spec) Build(DecoderConfig config, ComputeTarget target, IReadOnlyList<int> layers, QuestionTokenizer tokenizer, int? tokenBudget = null)
    {
        var weights = new RandomWeightSource(target.Dtype, target.Device);
        var model = DecoderModel.Build(config, weights, layers.Max() + 1);
        var engine = ActivationEngine.FromModel(model, tokenizer, weights.BytesLoaded, NullLogger.Instance, ownsTokenizer: false, tokenBudget);
        var spec = new CaptureSpec { Hooks = [.. layers.Select(HookPoint.ResidPost)], Device = target.Kind, Dtype = target.ComputeDtype };
        return (engine, spec);
    }
}
