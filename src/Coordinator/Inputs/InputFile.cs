using Activations.Contracts;

namespace Activations.Coordinator.Inputs;

/// <summary>Opens an input file, turning the ways that fails into errors that name the file.</summary>
internal static class InputFile
{
    internal static Stream OpenRead(string path) =>
        new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16, FileOptions.SequentialScan);

    /// <summary>Checks the path before opening it so a folder or a missing file gets its own message.</summary>
    internal static Stream Open(string path, Func<string, Stream> openRead)
    {
        if (Directory.Exists(path))
        {
            throw new InvalidInputException(path, "is a folder, not a file");
        }
        if (!File.Exists(path))
        {
            throw new InvalidInputException(path, "file not found");
        }
        try
        {
            return openRead(path);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new InvalidInputException(path, $"cannot be read: {e.Message}", inner: e);
        }
    }
}
