using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Activations.ServiceDefaults;
using static TorchSharp.torch;

namespace Activations.Coordinator.Assembly;

/// <summary>
/// Writes a .safetensors file: an 8-byte little-endian header length, a JSON header (each tensor's dtype, shape and
/// byte range; <c>__metadata__</c> as strings) padded with spaces to 8 bytes, then the tensors' bytes, little-endian
/// and contiguous, in the header's order. What <c>safetensors.torch.load_file</c> reads. Written atomically.
/// </summary>
public static class SafetensorsFileWriter
{
    public const string MetadataKey = "__metadata__";

    public static void Write(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors is little-endian");
        }
        using var scope = NewDisposeScope();
        // Compact CPU views (no copy when the tensor already is one); their bytes go to the file straight from native memory.
        var compact = tensors.Select(t => (t.Name, Tensor: t.Tensor.detach().cpu().contiguous())).ToList();
        var header = new Dictionary<string, object> { [MetadataKey] = metadata };
        long offset = 0;
        foreach (var (name, tensor) in compact)
        {
            var length = tensor.NumberOfElements * tensor.ElementSize;
            header[name] = new { dtype = DtypeName(tensor.dtype), shape = tensor.shape, data_offsets = new[] { offset, offset + length } };
            offset += length;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        var padded = (json.Length + 7) / 8 * 8;
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
            stream.Write(length);
            stream.Write(json);
            for (var i = json.Length; i < padded; i++)
            {
                stream.WriteByte((byte)' ');
            }
            foreach (var (_, tensor) in compact)
            {
                if (tensor.NumberOfElements > 0)
                {
                    stream.Write(tensor.bytes);
                }
            }
        });
    }

    static string DtypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        _ => throw new ArgumentException($"no safetensors writer for {dtype}", nameof(dtype)),
    };
}
