using Activations.Contracts;
using Activations.Worker.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Capture;

/// <summary>
/// The engine's <see cref="HookSink"/>: pools each requested hook once, on the device, over real tokens only, as the
/// forward pass reports it, and hands every row's vectors back keyed by hook with one copy to the host.
/// </summary>
public sealed class PoolingHookSink : HookSink, IDisposable
{
    readonly HashSet<HookPoint> wanted;
    readonly long[] lengths;
    readonly Pooling pooling;
    readonly bool leadingBos;
    readonly List<(HookPoint Hook, Tensor Pooled)> pooled = [];
    // The lengths on each device the hooks come from, copied once: every copy to a GPU waits for the work queued before it.
    readonly Dictionary<string, Tensor> endsOn = [];

    /// <param name="lengths">real tokens per row</param>
    /// <param name="leadingBos">whether every row starts with a BOS (skipped by <see cref="Pooling.MeanNoBos"/>)</param>
    public PoolingHookSink(IReadOnlyCollection<HookPoint> hooks, long[] lengths, Pooling pooling, bool leadingBos)
    {
        wanted = [.. hooks];
        this.lengths = lengths;
        this.pooling = pooling;
        this.leadingBos = leadingBos;
        LastLayer = hooks.Max(h => h.LayersNeeded) - 1;
    }

    public override int LastLayer { get; }

    public override bool Wants(HookPoint hook) => wanted.Contains(hook);

    protected override void Receive(HookPoint hook, Tensor values)
    {
        if (pooled.Any(p => p.Hook == hook))
        {
            throw new InvalidOperationException($"{hook} was reported twice in one forward pass");
        }
        // [batch, width] float32, kept past the layer's dispose scope until Collect.
        var device = values.device.ToString();
        if (!endsOn.TryGetValue(device, out var ends))
        {
            ends = endsOn[device] = torch.tensor(lengths, ScalarType.Int64, values.device).DetachFromDisposeScope();
        }
        pooled.Add((hook, ResidualPooler.Pool(values, ends, pooling, leadingBos).DetachFromDisposeScope()));
    }

    /// <summary>Every row's pooled vector per hook; throws if a wanted hook was never reported.</summary>
    public Dictionary<HookPoint, float[]>[] Collect()
    {
        var missing = wanted.Except(pooled.Select(p => p.Hook)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"the forward pass did not report {string.Join(", ", missing)}");
        }
        var batch = lengths.Length;
        var widths = pooled.Select(p => (int)p.Pooled.shape[1]).ToArray();
        var total = widths.Sum();
        float[] flat;
        using (torch.NewDisposeScope())
        {
            // One device-to-host copy for every hook of the batch.
            // A model split over devices pools each hook on its layer's device: gather them on the first one's.
            var device = pooled[0].Pooled.device;
            flat = HostCopy.ToArray<float>(torch.cat(pooled.Select(p => p.Pooled.device.Equals(device) ? p.Pooled : p.Pooled.to(device)).ToList(), 1));
        }
        var rows = new Dictionary<HookPoint, float[]>[batch];
        for (var r = 0; r < batch; r++)
        {
            rows[r] = new Dictionary<HookPoint, float[]>(pooled.Count);
            var offset = r * total;
            for (var h = 0; h < pooled.Count; h++)
            {
                rows[r][pooled[h].Hook] = flat.AsSpan(offset, widths[h]).ToArray();
                offset += widths[h];
            }
        }
        return rows;
    }

    public void Dispose()
    {
        foreach (var (_, tensor) in pooled)
        {
            tensor.Dispose();
        }
        pooled.Clear();
        foreach (var ends in endsOn.Values)
        {
            ends.Dispose();
        }
        endsOn.Clear();
    }
}
