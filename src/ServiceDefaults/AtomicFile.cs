using Activations.Contracts;

namespace Activations.ServiceDefaults;

/// <summary>
/// Every file the project writes goes through here: written under a temporary name in the same folder, flushed, then
/// renamed into place, so a reader never sees a half-written file and a failed write leaves neither the file nor the
/// temporary behind.
/// </summary>
public static class AtomicFile
{
    /// <summary>The suffix of a temporary that has not been renamed into place yet.</summary>
    public const string TempSuffix = ".tmp";

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>; an I/O failure names the file (<see cref="InvalidInputException"/>).</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var temporary = TemporaryFor(path);
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e)
        {
            TryDelete(temporary);
            if (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidInputException(path, $"cannot be written: {e.Message}", inner: e);
            }
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> (UTF-8) to <paramref name="path"/>.</summary>
    public static void WriteAllText(string path, string text)
        => Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            writer.Write(text);
        });

    /// <summary>
    /// Renames a file that was written elsewhere under a temporary name (a resumable download) into place, once it
    /// is complete: flushed to disk first, then one rename in the same folder.
    /// </summary>
    public static void MoveIntoPlace(string temporary, string path)
    {
        using (var stream = new FileStream(temporary, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>A unique temporary beside <paramref name="path"/>: same folder, so the rename stays on one file system and is atomic.</summary>
    static string TemporaryFor(string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return Path.Combine(folder, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}{TempSuffix}");
    }

    static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The original error matters more than a leftover temporary.
        }
    }
}
