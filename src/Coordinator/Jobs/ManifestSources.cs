using System.Security.Cryptography;
using Activations.Coordinator.Assembly;

namespace Activations.Coordinator.Jobs;

/// <summary>Where a manifest's inputs and model came from: each input's path and sha256, a Hub snapshot's commit.</summary>
public static class ManifestSources
{
    public static ManifestInput InputOf(string path)
    {
        using var stream = File.OpenRead(path);
        return new ManifestInput(Path.GetFullPath(path), Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    /// <summary>The commit of a Hub cache snapshot folder (…/snapshots/{40-hex commit}); null for any other folder.</summary>
    public static string? HubCommitOf(string folder)
    {
        var full = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
        var name = Path.GetFileName(full);
        return Path.GetFileName(Path.GetDirectoryName(full)) == "snapshots" && name.Length == 40 && name.All(char.IsAsciiHexDigitLower)
            ? name
            : null;
    }
}
