using System.Globalization;
using Activations.Contracts;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Model;

/// <summary>A device the model may use and the bytes free on it when the plan was made.</summary>
public sealed record DeviceBudget(Device Device, long FreeBytes)
{
    public string Name => Device.type == DeviceType.CUDA ? $"cuda:{Math.Max(Device.index, 0)}" : "cpu";
}

/// <summary>
/// Which device holds each decoder layer: contiguous ranges, each device's share in proportion to its free memory
/// (HF's device_map="auto" balances the same way); the embedding is on the first device, the final norm and head
/// (benchmarks only) with the last layer. The residual stream moves to the next device between ranges.
/// </summary>
public sealed class LayerPlacement
{
    LayerPlacement(IReadOnlyList<Device> devices, int[] layerDevice, long[] bytesPerDevice)
    {
        Devices = devices;
        this.layerDevice = layerDevice;
        BytesPerDevice = bytesPerDevice;
    }

    readonly int[] layerDevice;

    public IReadOnlyList<Device> Devices { get; }

    /// <summary>Weight bytes planned on each device, in <see cref="Devices"/> order.</summary>
    public IReadOnlyList<long> BytesPerDevice { get; }

    public int LayerCount => layerDevice.Length;

    public Device EmbeddingDevice => Devices[0];

    public Device DeviceOfLayer(int layer) => Devices[layerDevice[layer]];

    /// <summary>Index into <see cref="Devices"/> of each layer.</summary>
    public IReadOnlyList<int> LayerDeviceIndices => layerDevice;

    /// <summary>Everything on one device (no memory check).</summary>
    public static LayerPlacement Single(Device device, int layerCount) => new([device], new int[layerCount], [0]);

    /// <summary>
    /// Plans <paramref name="layerCount"/> layers of <paramref name="layerBytes"/> each, after an embedding of
    /// <paramref name="embeddingBytes"/> (and a head of <paramref name="headBytes"/>), over <paramref name="budgets"/>.
    /// Refuses, naming needed and free bytes per device, when the weights do not fit.
    /// </summary>
    public static LayerPlacement Plan(long embeddingBytes, long layerBytes, int layerCount, long headBytes, IReadOnlyList<DeviceBudget> budgets, string dtypeName)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(budgets.Count, 1);
        var needed = embeddingBytes + layerBytes * layerCount + headBytes;
        var free = budgets.Sum(b => Math.Max(0, b.FreeBytes));
        string Numbers(long[]? planned = null) =>
            $"{layerCount} layers need {Gb(needed)} at {dtypeName} (embedding {Gb(embeddingBytes)}, {Gb(layerBytes)} per layer" + (headBytes > 0 ? $", head {Gb(headBytes)}" : "") + "); free: "
            + string.Join(", ", budgets.Select((b, d) => $"{b.Name} {Gb(b.FreeBytes)}" + (planned is null ? "" : $" (planned {Gb(planned[d])})")));
        if (needed > free)
        {
            throw new InvalidInputException("--device", $"the model does not fit: {Numbers()}");
        }
        // Device d's share ends at the cumulative fraction of free memory up to d; a layer goes to the share its midpoint falls in.
        var ends = new double[budgets.Count];
        double cumulative = 0;
        for (var d = 0; d < budgets.Count; d++)
        {
            cumulative += Math.Max(0, budgets[d].FreeBytes);
            ends[d] = needed * (cumulative / free);
        }
        var layerDevice = new int[layerCount];
        var bytes = new long[budgets.Count];
        bytes[0] += embeddingBytes;
        var device = 0;
        for (var i = 0; i < layerCount; i++)
        {
            var midpoint = embeddingBytes + layerBytes * (i + 0.5);
            while (device < budgets.Count - 1 && midpoint > ends[device])
            {
                device++;
            }
            // A device whose rest is too small for the layer is passed over (contiguity holds: devices only advance).
            while (device < budgets.Count - 1 && bytes[device] + layerBytes > budgets[device].FreeBytes)
            {
                device++;
            }
            layerDevice[i] = device;
            bytes[device] += layerBytes;
        }
        bytes[layerCount > 0 ? layerDevice[^1] : 0] += headBytes;
        for (var d = 0; d < budgets.Count; d++)
        {
            if (bytes[d] > budgets[d].FreeBytes)
            {
                throw new InvalidInputException("--device", $"the model does not fit: {budgets[d].Name} would hold {Gb(bytes[d])}; {Numbers(bytes)}");
            }
        }
        return new LayerPlacement(budgets.Select(b => b.Device).ToArray(), layerDevice, bytes);
    }

    /// <summary>"cuda:0 layers 0-15, cuda:1 layers 16-31": for the log.</summary>
    public override string ToString() => string.Join(", ", Enumerable.Range(0, Devices.Count).Select(d =>
    {
        var layers = Enumerable.Range(0, LayerCount).Where(i => layerDevice[i] == d).ToArray();
        var name = new DeviceBudget(Devices[d], 0).Name;
        return layers.Length == 0 ? $"{name} no layers" : $"{name} layers {layers[0]}-{layers[^1]}";
    }));

    static string Gb(long bytes) => (bytes / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB";
}
