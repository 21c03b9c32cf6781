using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using static TorchSharp.torch;

namespace Activations.Coordinator.Assembly;

/// <summary>
/// torch.save's zip format for a dict of named tensors: <c>archive/version</c>, each tensor's bytes as
/// <c>archive/data/{i}</c> (stored, straight from the tensor's memory), and <c>archive/data.pkl</c>, a protocol-2
/// pickle of <c>{name: torch._utils._rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())}</c> that
/// uses only what <c>torch.load(weights_only=True)</c> accepts. Written here rather than by TorchSharp.PyBridge's
/// pickler, which copies every tensor into a managed array first: half a hook more memory at assembly's peak.
/// </summary>
public static class TorchSaveFormat
{
    const string Prefix = "archive/";

    /// <summary>Writes <paramref name="tensors"/> (compact CPU tensors: their bytes are their whole storage from offset 0) to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IReadOnlyList<(string Name, Tensor Tensor)> tensors)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("torch.save files are written little-endian");
        }
        using var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        WriteEntry(archive, "version", "3\n"u8);
        for (var i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i].Tensor;
            if (!tensor.is_contiguous() || tensor.storage_offset() != 0 || tensor.device_type != TorchSharp.DeviceType.CPU)
            {
                throw new ArgumentException($"tensor '{tensors[i].Name}' is not a compact CPU tensor", nameof(tensors));
            }
            using var data = archive.CreateEntry($"{Prefix}data/{i}", CompressionLevel.NoCompression).Open();
            if (tensor.NumberOfElements > 0)
            {
                data.Write(tensor.bytes);
            }
        }
        WriteEntry(archive, "data.pkl", Pickle(tensors));
    }

    static void WriteEntry(ZipArchive archive, string name, ReadOnlySpan<byte> bytes)
    {
        using var entry = archive.CreateEntry(Prefix + name, CompressionLevel.NoCompression).Open();
        entry.Write(bytes);
    }

    static byte[] Pickle(IReadOnlyList<(string Name, Tensor Tensor)> tensors)
    {
        var pickle = new PickleWriter();
        pickle.Op(0x80, 2); // PROTO 2
        pickle.Op((byte)'}'); // EMPTY_DICT
        pickle.Op((byte)'('); // MARK: the items
        for (var i = 0; i < tensors.Count; i++)
        {
            var (name, tensor) = tensors[i];
            pickle.Unicode(name);
            pickle.Global("torch._utils", "_rebuild_tensor_v2");
            pickle.Op((byte)'('); // MARK: the rebuild arguments
            pickle.Op((byte)'('); // MARK: the persistent id ('storage', type, key, location, numel)
            pickle.Unicode("storage");
            pickle.Global("torch", StorageName(tensor.dtype));
            pickle.Unicode(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            pickle.Unicode("cpu");
            pickle.Int(tensor.NumberOfElements);
            pickle.Op((byte)'t'); // TUPLE
            pickle.Op((byte)'Q'); // BINPERSID
            pickle.Int(0); // storage offset
            pickle.Tuple(tensor.shape);
            pickle.Tuple(tensor.stride());
            pickle.Op(0x89); // NEWFALSE: requires_grad
            pickle.Global("collections", "OrderedDict");
            pickle.Op((byte)')'); // EMPTY_TUPLE
            pickle.Op((byte)'R'); // REDUCE: OrderedDict(), the backward hooks
            pickle.Op((byte)'t'); // TUPLE
            pickle.Op((byte)'R'); // REDUCE: _rebuild_tensor_v2(...)
        }
        pickle.Op((byte)'u'); // SETITEMS
        pickle.Op((byte)'.'); // STOP
        return pickle.ToArray();
    }

    static string StorageName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        _ => throw new ArgumentException($"no torch.save writer for {dtype}", nameof(dtype)),
    };

    /// <summary>The few pickle opcodes a tensor dict needs.</summary>
    sealed class PickleWriter
    {
        readonly MemoryStream _bytes = new();

        public void Op(params byte[] bytes) => _bytes.Write(bytes);

        /// <summary>BININT1, BININT or LONG1 (8 bytes), whichever holds <paramref name="value"/>.</summary>
        public void Int(long value)
        {
            Span<byte> buffer = stackalloc byte[8];
            if (value is >= 0 and < 256)
            {
                Op((byte)'K', (byte)value);
            }
            else if (value is >= int.MinValue and <= int.MaxValue)
            {
                _bytes.WriteByte((byte)'J');
                BinaryPrimitives.WriteInt32LittleEndian(buffer, (int)value);
                _bytes.Write(buffer[..4]);
            }
            else
            {
                Op(0x8a, 8);
                BinaryPrimitives.WriteInt64LittleEndian(buffer, value);
                _bytes.Write(buffer);
            }
        }

        /// <summary>BINUNICODE: a 4-byte length, then UTF-8.</summary>
        public void Unicode(string text)
        {
            var utf8 = Encoding.UTF8.GetBytes(text);
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)utf8.Length);
            _bytes.WriteByte((byte)'X');
            _bytes.Write(length);
            _bytes.Write(utf8);
        }

        public void Global(string module, string name)
        {
            _bytes.WriteByte((byte)'c');
            _bytes.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
        }

        public void Tuple(long[] values)
        {
            Op((byte)'(');
            foreach (var value in values)
            {
                Int(value);
            }
            Op((byte)'t');
        }

        public byte[] ToArray() => _bytes.ToArray();
    }
}
