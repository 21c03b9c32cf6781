using System.Text.Json;
using Activations.Contracts;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Loading;

/// <summary>
/// One .safetensors file: the JSON header is read at open; each tensor's bytes are read only when asked for,
/// straight into a tensor's memory. Only safetensors are ever read: never pickle.
/// </summary>
public sealed class SafetensorsFile
{
    const long MaxHeaderBytes = 100L * 1024 * 1024;

    public sealed record Entry(string Dtype, long[] Shape, long Begin, long End);

    readonly Dictionary<string, Entry> entries;
    readonly long dataStart;

    SafetensorsFile(string path, Dictionary<string, Entry> entries, long dataStart)
    {
        Path = path;
        this.entries = entries;
        this.dataStart = dataStart;
    }

    public string Path { get; }

    public IReadOnlyDictionary<string, Entry> Entries => entries;

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new InvalidInputException(path, "weights file not found");
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var length = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (length < 8 || stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
        {
            throw new InvalidInputException(path, $"truncated safetensors file: {length} bytes, too short for a header");
        }
        var headerLength = BitConverter.ToInt64(prefix);
        if (headerLength <= 0 || headerLength > MaxHeaderBytes)
        {
            throw new InvalidInputException(path, $"not a safetensors file: header length {headerLength}");
        }
        if (8 + headerLength > length)
        {
            throw new InvalidInputException(path, $"truncated safetensors file: the header needs {8 + headerLength} bytes, the file has {length}");
        }
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        long dataLength = length - 8 - headerLength;
        try
        {
            using var doc = JsonDocument.Parse(header);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    continue;
                }
                var value = property.Value;
                var dtype = value.GetProperty("dtype").GetString() ?? "";
                var shape = value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                var offsets = value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
                {
                    throw new InvalidInputException(path, $"tensor '{property.Name}' has bad data_offsets");
                }
                if (offsets[1] > dataLength)
                {
                    throw new InvalidInputException(path, $"truncated safetensors file: tensor '{property.Name}' ends at byte {8 + headerLength + offsets[1]}, the file has {length}");
                }
                var expected = shape.Aggregate(1L, (a, b) => a * b) * ElementSize(dtype, path, property.Name);
                if (offsets[1] - offsets[0] != expected)
                {
                    throw new InvalidInputException(path, $"tensor '{property.Name}' has {offsets[1] - offsets[0]} bytes, its shape and dtype need {expected}");
                }
                entries[property.Name] = new Entry(dtype, shape, offsets[0], offsets[1]);
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidInputException(path, $"not a safetensors file: bad header ({e.Message})");
        }
        return new SafetensorsFile(path, entries, 8 + headerLength);
    }

    /// <summary>Reads one tensor in its stored dtype, on the CPU.</summary>
    public Tensor Read(string name)
    {
        var entry = entries[name];
        var tensor = torch.empty(entry.Shape, StoredType(entry.Dtype));
        try
        {
            ReadBytes(name, entry, tensor);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
        return tensor;
    }

    /// <summary>
    /// Reads one tensor into <paramref name="destination"/>: straight into its memory when it is a contiguous CPU
    /// tensor of the stored dtype, else through the stored tensor, cast and moved by copy_.
    /// </summary>
    public void ReadInto(string name, Tensor destination)
    {
        var entry = entries[name];
        if (destination.device.type == DeviceType.CPU && destination.dtype == StoredType(entry.Dtype) && destination.is_contiguous())
        {
            ReadBytes(name, entry, destination);
            return;
        }
        using var stored = Read(name);
        destination.copy_(stored);
    }

    void ReadBytes(string name, Entry entry, Tensor tensor)
    {
        try
        {
            using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            stream.Position = dataStart + entry.Begin;
            stream.ReadExactly(tensor.bytes);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidInputException(Path, $"truncated safetensors file while reading '{name}'");
        }
    }

    static ScalarType StoredType(string dtype) => dtype switch
    {
        "BF16" => ScalarType.BFloat16,
        "F16" => ScalarType.Float16,
        "F32" => ScalarType.Float32,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new NotSupportedException(dtype),
    };

    static long ElementSize(string dtype, string path, string name) => dtype switch
    {
        "BF16" or "F16" => 2,
        "F32" or "I32" => 4,
        "F64" or "I64" => 8,
        "I8" or "U8" or "BOOL" => 1,
        _ => throw new InvalidInputException(path, $"tensor '{name}' has unsupported dtype {dtype}"),
    };
}
