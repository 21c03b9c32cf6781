using System.Text;
using Activations.Contracts;

namespace Activations.Coordinator.Inputs;

/// <summary>
/// Reads a UTF-8 file line by line, refusing a line longer than a byte limit without buffering the rest of it,
/// so a corrupt multi-gigabyte line costs at most the limit in memory. Decoding is strict: invalid UTF-8 is an
/// error on the line where it occurs, never replaced by U+FFFD.
/// </summary>
internal sealed class BoundedLineReader : IDisposable
{
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    readonly Stream _stream;
    readonly string _path;
    readonly int _maxLineBytes;
    readonly byte[] _buffer = new byte[1 << 16];
    int _bufferStart;
    int _bufferEnd;
    bool _endOfStream;
    bool _atFileStart = true;
    // Grows to the longest line seen, never past the limit.
    byte[] _line = new byte[1024];

    internal BoundedLineReader(Stream stream, string path, int maxLineBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineBytes, 1);
        _stream = stream;
        _path = path;
        _maxLineBytes = maxLineBytes;
    }

    /// <summary>1-based number of the line last returned.</summary>
    internal int LineNumber { get; private set; }

    /// <summary>Whether the file had no bytes at all (known once the first read has returned null).</summary>
    internal bool WasEmpty { get; private set; } = true;

    /// <summary>The next line without its terminator (\n or \r\n); null at the end of the file.</summary>
    internal string? ReadLine()
    {
        var length = 0;
        var sawAny = false;
        while (true)
        {
            if (_bufferStart == _bufferEnd && !Fill())
            {
                if (!sawAny)
                {
                    return null;
                }
                break;
            }
            sawAny = true;
            WasEmpty = false;
            var available = _buffer.AsSpan(_bufferStart, _bufferEnd - _bufferStart);
            var newline = available.IndexOf((byte)'\n');
            var take = newline >= 0 ? newline : available.Length;
            if (length + take > _maxLineBytes)
            {
                throw new InvalidInputException(_path,
                    $"line is longer than the limit of {_maxLineBytes} bytes; refusing to read it", LineNumber + 1);
            }
            if (length + take > _line.Length)
            {
                Array.Resize(ref _line, Math.Min(_maxLineBytes, Math.Max(_line.Length * 2, length + take)));
            }
            available[..take].CopyTo(_line.AsSpan(length));
            length += take;
            _bufferStart += take;
            if (newline >= 0)
            {
                _bufferStart++; // the '\n'
                break;
            }
        }

        LineNumber++;
        var bytes = _line.AsSpan(0, length);
        if (bytes.Length > 0 && bytes[^1] == (byte)'\r')
        {
            bytes = bytes[..^1];
        }
        if (_atFileStart)
        {
            _atFileStart = false;
            if (bytes.StartsWith(Utf8Bom))
            {
                bytes = bytes[Utf8Bom.Length..];
            }
        }
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidInputException(_path, $"not valid UTF-8 (byte offset {e.Index} in the line)", LineNumber, inner: e);
        }
    }

    static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    bool Fill()
    {
        if (_endOfStream)
        {
            return false;
        }
        int read;
        try
        {
            read = _stream.Read(_buffer, 0, _buffer.Length);
        }
        catch (IOException e)
        {
            throw new InvalidInputException(_path, $"cannot be read: {e.Message}", LineNumber + 1, inner: e);
        }
        _bufferStart = 0;
        _bufferEnd = read;
        _endOfStream = read == 0;
        return read > 0;
    }

    public void Dispose() => _stream.Dispose();
}
