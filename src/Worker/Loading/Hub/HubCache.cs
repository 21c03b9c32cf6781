using System.Text.RegularExpressions;
using Activations.Contracts;

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
        // Write then rename, so a reader never sees half a sha.
        var temporary = $"{refPath}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temporary, commit);
        File.Move(temporary, refPath, overwrite: true);
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

    /// <summary>
    /// The files a snapshot still needs to be a loadable model folder: the config, the tokenizer files, and
    /// model.safetensors or the index plus every shard it names. Empty when complete.
    /// </summary>
    public static IReadOnlyList<string> MissingModelFiles(string snapshot)
    {
        var missing = new List<string>();
        foreach (var name in HubModelLocator.RequiredFiles)
        {
            if (!File.Exists(Path.Combine(snapshot, name)))
            {
                missing.Add(name);
            }
        }
        var index = Path.Combine(snapshot, ModelFolder.WeightsIndexFile);
        if (File.Exists(index))
        {
            missing.AddRange(ShardNames(index).Where(shard => !File.Exists(Path.Combine(snapshot, shard))));
        }
        else if (!File.Exists(Path.Combine(snapshot, ModelFolder.SingleWeightsFile)))
        {
            missing.Add(ModelFolder.SingleWeightsFile);
        }
        return missing;
    }

    /// <summary>The shard files an index names, each checked to be a plain .safetensors file name.</summary>
    public static IReadOnlyList<string> ShardNames(string index)
    {
        var shards = ModelFolder.ReadWeightMap(index).Select(entry => entry.Value).Distinct(StringComparer.Ordinal).ToList();
        foreach (var shard in shards.Where(shard => !shard.EndsWith(".safetensors", StringComparison.Ordinal)))
        {
            throw new InvalidInputException(index, $"names shard '{shard}', which is not a .safetensors file (pickles are never loaded)", field: "weight_map");
        }
        return shards;
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHash();
}
