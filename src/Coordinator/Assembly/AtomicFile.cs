using Activations.Contracts;

namespace Activations.Coordinator.Assembly;

/// <summary>
/// Writes a file under a temporary name in the same folder, then renames it into place, so a reader never sees a
/// half-written file and a failed write leaves neither the file nor the temporary behind.
/// </summary>
internal static class AtomicFile
{
    internal const string TempSuffix = ".tmp";

    internal static void Write(string path, Action<Stream> write)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        // Same folder, so the rename stays on one file system and is atomic.
        var tempPath = Path.Combine(folder, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}{TempSuffix}");
        try
        {
            using (var stream = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(tempPath, path, overwrite: true);
        }
        catch (Exception e)
        {
            TryDelete(tempPath);
            if (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidInputException(path, $"cannot be written: {e.Message}", inner: e);
            }
            throw;
        }
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
