using System.Text.RegularExpressions;
using Activations.Contracts;
using Activations.ServiceDefaults;

namespace Activations.Worker.Loading.Hub;

/// <summary>
/// The Hugging Face cache layout, shared with Python so that a model it downloaded is reused:
/// {root}/models--{org}--{name}/refs/{revision} holds a commit sha; snapshots/{commit}/{file} is a relative
/// symlink to ../../blobs/{etag}; blobs/{etag} holds the bytes (etag = sha256 for LFS files, else the git blob sha).
/// </summary>
public sealed partial class HubCache(string root)
{
    public string Root { get; } = root;

    public static bool IsCommitHash(string revision) => CommitHash().IsMatch(revision);

    public string RepoFolder(HubRepoId repo) => Path.Combine(Root, repo.CacheFolderName);

    public string SnapshotFolder(HubRepoId repo, string commit) => Path.Combine(RepoFolder(repo), "snapshots", commit);

    public string BlobPath(HubRepoId repo, string etag) => Path.Combine(RepoFolder(repo), "blobs", etag);

    public string RefPath(HubRepoId repo, string revision) => Path.Combine(RepoFolder(repo), "refs", revision);

    /// <summary>The commit a revision points to as far as the cache knows, or null. A commit hash is its own answer.</summary>
    public string? FindCommit(HubRepoId repo, string revision)
    {
        if (IsCommitHash(revision))
        {
            return revision;
        }
        var refPath = RefPath(repo, revision);
        if (!File.Exists(refPath))
        {
            return null;
        }
        var commit = File.ReadAllText(refPath).Trim();
        return IsCommitHash(commit) ? commit : null;
    }

    public void WriteRef(HubRepoId repo, string revision, string commit)
    {
        if (revision == commit)
        {
            return;
        }
        var refPath = RefPath(repo, revision);
        if (File.Exists(refPath) && File.ReadAllText(refPath).Trim() == commit)
        {
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(refPath)!);
        // Atomic, so a reader never sees half a sha.
        AtomicFile.WriteAllText(refPath, commit);
    }

    /// <summary>
    /// Puts blobs/{etag} into the snapshot as {file}: a relative symlink like Python makes, or a copy where
    /// symlinks are not allowed. Returns true when it had to copy.
    /// </summary>
    public bool LinkIntoSnapshot(HubRepoId repo, string commit, string file, string etag)
    {
        var link = Path.Combine(SnapshotFolder(repo, commit), file);
        var blob = BlobPath(repo, etag);
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        // A dangling or stale link from an earlier run is replaced.
        if (File.Exists(link) || new FileInfo(link).LinkTarget is not null)
        {
            File.Delete(link);
        }
        try
        {
            File.CreateSymbolicLink(link, Path.GetRelativePath(Path.GetDirectoryName(link)!, blob));
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(blob, link, overwrite: true);
            return true;
        }
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHash();
}
