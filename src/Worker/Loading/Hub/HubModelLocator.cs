using System.Text.RegularExpressions;
using Activations.Contracts;
using Microsoft.Extensions.Logging;

namespace Activations.Worker.Loading.Hub;

/// <summary>
/// Turns --model into a local model folder: an existing folder as is, or a Hub id "org/name" (at a revision,
/// default main) through the Hugging Face cache, downloading only the files a safetensors model needs
/// (<see cref="ModelFolderLayout"/>). HTTP is <see cref="HubClient"/>'s, the bytes <see cref="BlobDownloader"/>'s.
/// </summary>
public sealed partial class HubModelLocator : IDisposable
{
    public const string DefaultRevision = "main";

    readonly HubOptions options;
    readonly HubCache cache;
    readonly ILogger logger;
    readonly HubClient client;
    readonly BlobDownloader downloader;

    public HubModelLocator(HubOptions options, ILogger logger)
    {
        this.options = options;
        this.logger = logger;
        cache = new HubCache(options.CacheRoot);
        client = new HubClient(options, logger);
        downloader = new BlobDownloader(client, options, logger);
    }

    public HubCache Cache => cache;

    /// <summary>
    /// The local folder for --model: the folder itself when it exists, else the cache snapshot of the Hub repo
    /// at <paramref name="revision"/> (default main), downloaded first where files are missing.
    /// </summary>
    public async Task<string> ResolveAsync(string model, string? revision, CancellationToken cancellationToken)
    {
        if (Directory.Exists(model))
        {
            if (revision is not null)
            {
                logger.LogWarning("--revision {Revision} is ignored: --model {Model} is a local folder", revision, model);
            }
            return Path.GetFullPath(model);
        }
        if (!HubRepoId.TryParse(model, out var repo) || repo is null)
        {
            throw new InvalidInputException("--model",
                $"'{model}' is neither an existing folder nor a Hugging Face Hub id (org/name: letters, digits, '-', '_', '.', one slash)");
        }
        if (Directory.Exists(repo.Organization))
        {
            // "samples/tiny-qwen3" beside a local "samples" folder is a mistyped path, not a Hub id.
            throw new InvalidInputException(model, $"model folder not found (not taken as a Hub id, since '{repo.Organization}' is a local folder)");
        }
        revision ??= DefaultRevision;
        if (!IsSafeRevision(revision))
        {
            throw new InvalidInputException("--revision", $"'{revision}' is not a valid revision (a branch, tag or commit)");
        }

        var cachedCommit = cache.FindCommit(repo, revision);
        if (cachedCommit is not null)
        {
            var snapshot = cache.SnapshotFolder(repo, cachedCommit);
            var missing = ModelFolderLayout.MissingFiles(snapshot);
            if (missing.Count == 0)
            {
                logger.LogInformation("Using cached {Repo}@{Revision} (commit {Commit}) from {Folder}", repo, revision, cachedCommit, snapshot);
                return snapshot;
            }
            if (options.Offline)
            {
                throw new InvalidInputException(repo.ToString(),
                    $"offline (HF_HUB_OFFLINE), and the cached snapshot {snapshot} lacks {string.Join(", ", missing)}");
            }
        }
        else if (options.Offline)
        {
            throw new InvalidInputException(repo.ToString(),
                $"offline (HF_HUB_OFFLINE), and revision '{revision}' is not in the cache {cache.RepoFolder(repo)}");
        }

        return await DownloadAsync(repo, revision, cancellationToken);
    }

    async Task<string> DownloadAsync(HubRepoId repo, string revision, CancellationToken cancellationToken)
    {
        var (commit, listed) = await client.RetryAsync($"{repo}@{revision}", token => client.GetRevisionAsync(repo, revision, token), cancellationToken);
        cache.WriteRef(repo, revision, commit);
        var snapshot = cache.SnapshotFolder(repo, commit);
        logger.LogInformation("{Repo}@{Revision} is commit {Commit}; snapshot {Folder}", repo, revision, commit, snapshot);

        var files = ModelFolderLayout.FilesToDownload(listed, repo.ToString(), out var sharded);
        foreach (var file in files)
        {
            await EnsureFileAsync(repo, commit, snapshot, file, cancellationToken);
        }
        if (sharded)
        {
            // Shards are known only once the index is here.
            foreach (var shard in ModelFolderLayout.ShardNames(Path.Combine(snapshot, ModelFolderLayout.WeightsIndexFile)))
            {
                await EnsureFileAsync(repo, commit, snapshot, shard, cancellationToken);
            }
        }
        return snapshot;
    }

    async Task EnsureFileAsync(HubRepoId repo, string commit, string snapshot, string file, CancellationToken cancellationToken)
    {
        if (ModelFolderLayout.IsPickle(file))
        {
            throw new InvalidInputException($"{repo}/{file}", "is a pickle checkpoint, which is never downloaded");
        }
        if (File.Exists(Path.Combine(snapshot, file)))
        {
            return;
        }
        var url = client.FileUrl(repo, commit, file);
        var what = $"{repo}/{file}";
        var remote = await client.RetryAsync(what, token => client.HeadAsync(url, what, token), cancellationToken);
        var blob = cache.BlobPath(repo, remote.Etag);
        if (File.Exists(blob))
        {
            logger.LogInformation("{File} is already in the cache as blob {Etag}", what, remote.Etag);
        }
        else
        {
            await downloader.DownloadAsync(url, what, remote, blob, cancellationToken);
        }
        if (cache.LinkIntoSnapshot(repo, commit, file, remote.Etag))
        {
            logger.LogWarning("Symlinks are not available: copied {File} into the snapshot instead", what);
        }
    }

    // Branch and tag names, or refs/pr/N: no empty, "." or ".." segments, since the name becomes a path under refs/.
    static bool IsSafeRevision(string revision) =>
        SafeRevision().IsMatch(revision) && revision.Split('/').All(part => part.Length > 0 && part != "." && part != "..");

    [GeneratedRegex("^[A-Za-z0-9_./+-]+$")]
    private static partial Regex SafeRevision();

    public void Dispose() => client.Dispose();
}
