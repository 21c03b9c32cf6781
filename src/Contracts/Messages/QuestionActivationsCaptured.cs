using System.Runtime.InteropServices;

namespace Activations.Contracts.Messages;

/// <summary>A worker's answer for one question: the pooled vector of every requested layer.</summary>
public sealed record QuestionActivationsCaptured
{
    public required Guid JobId { get; init; }

    public required int QuestionIndex { get; init; }

    public required string PairId { get; init; }

    public required string ModelFingerprint { get; init; }

    /// <summary>The layers, in the job's order; <see cref="Vectors"/> holds one vector per layer in that order.</summary>
    public required int[] Layers { get; init; }

    /// <summary>The width of each vector (d_model).</summary>
    public required int Hidden { get; init; }

    /// <summary>All vectors, float32 little-endian, layer after layer ([layers, hidden]); sent as base64.</summary>
    public required byte[] Vectors { get; init; }

    public required int TokenCount { get; init; }

    /// <summary>The dtype the worker computed in (float32, float16 or bfloat16).</summary>
    public required string Dtype { get; init; }

    public required string Worker { get; init; }

    public static byte[] Pack(IReadOnlyList<float[]> vectors)
    {
        var hidden = vectors[0].Length;
        var bytes = new byte[vectors.Count * hidden * sizeof(float)];
        for (var i = 0; i < vectors.Count; i++)
        {
            MemoryMarshal.AsBytes(vectors[i].AsSpan()).CopyTo(bytes.AsSpan(i * hidden * sizeof(float)));
        }
        return bytes;
    }

    /// <summary>The vector of the layer at <paramref name="slot"/> in <see cref="Layers"/>.</summary>
    public static float[] Unpack(byte[] vectors, int hidden, int slot)
        => MemoryMarshal.Cast<byte, float>(vectors.AsSpan(slot * hidden * sizeof(float), hidden * sizeof(float))).ToArray();
}
