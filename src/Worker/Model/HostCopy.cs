using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Model;

/// <summary>
/// A tensor's values as a .NET array, in one block copy. TorchSharp's <c>data&lt;T&gt;().ToArray()</c> walks an
/// iterator per element (about 15 ns each: 45 ms for one GPU batch's 3 million pooled floats, as long as the
/// forward pass that made them).
/// </summary>
public static class HostCopy
{
    /// <summary>Copies <paramref name="tensor"/> (any device, any layout) to the host; <typeparamref name="T"/> must match its element type's size.</summary>
    public static T[] ToArray<T>(Tensor tensor) where T : unmanaged
    {
        if (tensor.ElementSize != Marshal.SizeOf<T>())
        {
            throw new ArgumentException($"a {tensor.dtype} tensor read as {typeof(T).Name}", nameof(tensor));
        }
        return Read(tensor, bytes => MemoryMarshal.Cast<byte, T>(bytes).ToArray());
    }

    /// <summary>The raw bytes of <paramref name="tensor"/>'s values, row-major, in this machine's byte order.</summary>
    public static byte[] Bytes(Tensor tensor) => Read(tensor, bytes => bytes.ToArray());

    delegate TResult SpanReader<TResult>(ReadOnlySpan<byte> bytes);

    static TResult Read<TResult>(Tensor tensor, SpanReader<TResult> read)
    {
        if (tensor.device_type == DeviceType.CPU && tensor.is_contiguous())
        {
            return read(tensor.bytes);
        }
        using var onHost = tensor.to(CPU);
        using var compact = onHost.contiguous();
        return read(compact.bytes);
    }
}
