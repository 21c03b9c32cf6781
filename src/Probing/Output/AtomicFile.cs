using Activations.Contracts;

namespace Activations.Probing.Output;

/// <summary>
/// Writes a file under a temporary name in the same folder, then renames it into place, so a reader never sees a
/// half-written file. (The same mechanism as the coordinator's Assembly.AtomicFile, which this library cannot
/// reference; the two belong in one shared helper.)
/// </summary>
internal static class AtomicFile
{
    internal static void Write(string path, Action<Stream> write)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var tempPath = Path.Combine(folder, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
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
            try
            {
                File.Delete(tempPath);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                // The original error matters more than a leftover temporary.
            }
            if (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidInputException(path, $"cannot be written: {e.Message}", inner: e);
            }
            throw;
        }
    }
}
