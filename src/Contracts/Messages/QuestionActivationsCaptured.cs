using System.Runtime.InteropServices;

namespace Activations.Contracts.Messages;

/// <summary>A worker's answer for one question: the pooled vector of every hook its spec asked for, each under its name.</summary>
public sealed record QuestionActivationsCaptured
{
    public required Guid JobId { get; init; }

    public required int QuestionIndex { get; init; }

    public required string PairId { get; init; }

    public required string ModelFingerprint { get; init; }

    /// <summary>One pooled vector per hook, each named; nothing depends on their order.</summary>
    public required IReadOnlyList<HookVector> Vectors { get; init; }

    public required int TokenCount { get; init; }

    /// <summary>The dtype the worker computed in (float32, float16 or bfloat16).</summary>
    public required string Dtype { get; init; }

    /// <summary>The device the worker computed on (cpu, cuda:0).</summary>
    public required string Device { get; init; }

    public required string Worker { get; init; }
}

/// <summary>One hook's pooled vector: float32 little-endian bytes (sent as base64).</summary>
public sealed record HookVector(HookPoint Hook, byte[] Values)
{
    public int Width => Values.Length / sizeof(float);

    public static HookVector Pack(HookPoint hook, float[] vector) => new(hook, MemoryMarshal.AsBytes(vector.AsSpan()).ToArray());

    public float[] Unpack() => MemoryMarshal.Cast<byte, float>(Values).ToArray();
}
