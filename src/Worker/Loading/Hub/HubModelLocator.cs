using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Activations.Contracts;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Activations.Worker.Loading.Hub;

/// <summary>
/// Turns --model into a local model folder: an existing folder as is, or a Hub id "org/name" (at a revision,
/// default main) through the Hugging Face cache, downloading only the files a safetensors model needs.
/// </summary>
public sealed partial class HubModelLocator : IDisposable
{
    public const string DefaultRevision = "main";
    public const string GenerationConfigFile = "generation_config.json";

    internal static readonly string[] RequiredFiles = [ModelFolder.ConfigFile, ModelFolder.TokenizerFile, ModelFolder.TokenizerConfigFile];

    const int BufferBytes = 1 << 20;

    readonly HubOptions options;
    readonly HubCache cache;
    readonly ILogger logger;
    readonly HttpClient http;
    readonly Uri endpoint;
    readonly ResiliencePipeline retry;

    public HubModelLocator(HubOptions options, ILogger logger)
    {
        this.options = options;
        this.logger = logger;
        cache = new HubCache(options.CacheRoot);
        endpoint = new Uri(options.Endpoint.TrimEnd('/') + "/");
        // Redirects are followed by hand: the Hub's own redirect carries the LFS etag and size, and the token
        // must not follow a redirect to another host (the CDN). Timeouts are per stall, not per download.
        http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("activations", "1.0"));
        retry = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = MaxRetries,
                Delay = options.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome.Exception, args.Context.CancellationToken)),
                OnRetry = args =>
                {
                    logger.LogWarning("Hub request failed ({Error}); retry {Attempt} of {MaxAttempts} in {DelaySeconds:F1} s",
                        args.Outcome.Exception?.Message, args.AttemptNumber + 1, MaxRetries, args.RetryDelay.TotalSeconds);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    public HubCache Cache => cache;

    // Polly needs at least one retry.
    int MaxRetries => Math.Max(options.MaxRetries, 1);

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
            var missing = HubCache.MissingModelFiles(snapshot);
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
        var (commit, listed) = await RetryAsync($"{repo}@{revision}", token => GetRevisionAsync(repo, revision, token), cancellationToken);
        cache.WriteRef(repo, revision, commit);
        var snapshot = cache.SnapshotFolder(repo, commit);
        logger.LogInformation("{Repo}@{Revision} is commit {Commit}; snapshot {Folder}", repo, revision, commit, snapshot);

        foreach (var name in RequiredFiles.Where(name => !listed.Contains(name)))
        {
            throw new InvalidInputException(repo.ToString(), $"the repository has no {name}, which a model folder needs");
        }
        var files = new List<string>(RequiredFiles);
        if (listed.Contains(GenerationConfigFile))
        {
            files.Add(GenerationConfigFile);
        }
        var sharded = listed.Contains(ModelFolder.WeightsIndexFile);
        if (sharded)
        {
            files.Add(ModelFolder.WeightsIndexFile);
        }
        else if (listed.Contains(ModelFolder.SingleWeightsFile))
        {
            files.Add(ModelFolder.SingleWeightsFile);
        }
        else
        {
            var pickles = listed.Any(IsPickle);
            throw new InvalidInputException(repo.ToString(), pickles
                ? $"no safetensors weights ({ModelFolder.SingleWeightsFile} or {ModelFolder.WeightsIndexFile}); pickle checkpoints (.bin, .pt) are never downloaded"
                : $"no weights: expected {ModelFolder.SingleWeightsFile} or {ModelFolder.WeightsIndexFile}");
        }

        foreach (var file in files)
        {
            await EnsureFileAsync(repo, commit, snapshot, file, cancellationToken);
        }
        if (sharded)
        {
            // Shards are known only once the index is here.
            foreach (var shard in HubCache.ShardNames(Path.Combine(snapshot, ModelFolder.WeightsIndexFile)))
            {
                await EnsureFileAsync(repo, commit, snapshot, shard, cancellationToken);
            }
        }
        return snapshot;
    }

    async Task EnsureFileAsync(HubRepoId repo, string commit, string snapshot, string file, CancellationToken cancellationToken)
    {
        if (IsPickle(file))
        {
            throw new InvalidInputException($"{repo}/{file}", "is a pickle checkpoint, which is never downloaded");
        }
        if (File.Exists(Path.Combine(snapshot, file)))
        {
            return;
        }
        var url = new Uri(endpoint, $"{repo.Organization}/{repo.Name}/resolve/{commit}/{EscapePath(file)}");
        var what = $"{repo}/{file}";
        var remote = await RetryAsync(what, token => HeadAsync(url, what, token), cancellationToken);
        var blob = cache.BlobPath(repo, remote.Etag);
        if (File.Exists(blob))
        {
            logger.LogInformation("{File} is already in the cache as blob {Etag}", what, remote.Etag);
        }
        else
        {
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            var partial = blob + ".incomplete";
            await RetryAsync(what, async token =>
            {
                await DownloadAttemptAsync(url, what, remote, partial, token);
                return true;
            }, cancellationToken);
            File.Move(partial, blob, overwrite: true);
        }
        if (cache.LinkIntoSnapshot(repo, commit, file, remote.Etag))
        {
            logger.LogWarning("Symlinks are not available: copied {File} into the snapshot instead", what);
        }
    }

    sealed record RemoteFile(string Etag, long? Size);

    async Task<(string Commit, HashSet<string> Files)> GetRevisionAsync(HubRepoId repo, string revision, CancellationToken cancellationToken)
    {
        var url = new Uri(endpoint, $"api/models/{repo.Organization}/{repo.Name}/revision/{Uri.EscapeDataString(revision)}");
        using var response = await SendAsync(HttpMethod.Get, url, rangeFrom: 0, followAnyRedirect: true, cancellationToken);
        ThrowOnError(response, $"{repo}@{revision}", revision);
        var body = await WithStallTimeout(token => response.Content.ReadAsStringAsync(token), cancellationToken);
        string? sha;
        var files = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            sha = root.TryGetProperty("sha", out var shaElement) && shaElement.ValueKind == JsonValueKind.String ? shaElement.GetString() : null;
            if (root.TryGetProperty("siblings", out var siblings) && siblings.ValueKind == JsonValueKind.Array)
            {
                foreach (var sibling in siblings.EnumerateArray())
                {
                    if (sibling.ValueKind == JsonValueKind.Object && sibling.TryGetProperty("rfilename", out var name) && name.GetString() is { } fileName)
                    {
                        files.Add(fileName);
                    }
                }
            }
        }
        catch (JsonException e)
        {
            throw new InvalidInputException(url.ToString(), $"the Hub's answer is not valid JSON: {e.Message}", inner: e);
        }
        sha ??= Header(response, "X-Repo-Commit");
        if (sha is null || !HubCache.IsCommitHash(sha))
        {
            throw new InvalidInputException(url.ToString(), $"the Hub's answer has no valid commit sha (got '{sha}')");
        }
        return (sha, files);
    }

    /// <summary>The etag (the blob's name) and size of a file, from the Hub's answer before any redirect to a CDN.</summary>
    async Task<RemoteFile> HeadAsync(Uri url, string what, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Head, url, rangeFrom: 0, followAnyRedirect: false, cancellationToken);
        ThrowOnError(response, what, revision: null);
        var rawEtag = Header(response, "X-Linked-Etag") ?? Header(response, "ETag");
        if (rawEtag is null)
        {
            throw new InvalidInputException(what, "the Hub sent no ETag for the file, so it cannot be cached");
        }
        var etag = NormalizeEtag(rawEtag);
        // The etag becomes a file name: keep it to what a hash looks like.
        if (!SafeEtag().IsMatch(etag))
        {
            throw new InvalidInputException(what, $"the Hub sent an unusable ETag '{rawEtag}'");
        }
        var size = long.TryParse(Header(response, "X-Linked-Size"), out var linked) ? linked : response.Content.Headers.ContentLength;
        return new RemoteFile(etag, size);
    }

    async Task DownloadAttemptAsync(Uri url, string what, RemoteFile remote, string partial, CancellationToken cancellationToken)
    {
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (remote.Size is { } expected && have > expected)
        {
            File.Delete(partial);
            have = 0;
        }
        if (remote.Size is not { } known || have < known)
        {
            await FetchAsync(url, what, remote, partial, have, cancellationToken);
        }
        await VerifyAsync(what, remote, partial, cancellationToken);
    }

    async Task FetchAsync(Uri url, string what, RemoteFile remote, string partial, long have, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, url, have, followAnyRedirect: true, cancellationToken);
        long offset;
        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            offset = response.Content.Headers.ContentRange?.From ?? -1;
            if (offset != have)
            {
                File.Delete(partial);
                throw new IOException($"asked to resume at byte {have}, the server sent from {offset}; starting again");
            }
            logger.LogInformation("Resuming {File} at {Megabytes:F1} MB", what, have / 1e6);
        }
        else if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            File.Delete(partial);
            throw new IOException($"the server cannot resume at byte {have}; starting again");
        }
        else
        {
            ThrowOnError(response, what, revision: null);
            offset = 0; // A 200 to a range request: the server sends it all.
        }
        var total = remote.Size ?? (response.Content.Headers.ContentLength is { } length ? offset + length : null);
        logger.LogInformation("Downloading {File}: {Megabytes:F1} MB", what, total / 1e6);

        await using var output = new FileStream(partial, offset == 0 ? FileMode.Create : FileMode.Append, FileAccess.Write, FileShare.None, BufferBytes);
        await using var input = await WithStallTimeout(token => response.Content.ReadAsStreamAsync(token), cancellationToken);
        var buffer = new byte[BufferBytes];
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        long received = 0;
        while (true)
        {
            var read = await WithStallTimeout(token => input.ReadAsync(buffer, token).AsTask(), cancellationToken);
            if (read == 0)
            {
                break;
            }
            await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            received += read;
            if (clock.Elapsed - lastReport >= options.ProgressInterval)
            {
                lastReport = clock.Elapsed;
                logger.LogInformation("Downloading {File}: {DoneMegabytes:F1} of {TotalMegabytes:F1} MB, {MegabytesPerSecond:F1} MB/s",
                    what, (offset + received) / 1e6, total / 1e6, received / 1e6 / clock.Elapsed.TotalSeconds);
            }
        }
        logger.LogInformation("Downloaded {File}: {Megabytes:F1} MB in {Seconds:F1} s", what, (offset + received) / 1e6, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Size against the Hub's, and sha256 against an LFS etag; a short file is resumed, a wrong one fetched again.</summary>
    async Task VerifyAsync(string what, RemoteFile remote, string partial, CancellationToken cancellationToken)
    {
        var size = new FileInfo(partial).Length;
        if (remote.Size is { } expected && size != expected)
        {
            if (size > expected)
            {
                File.Delete(partial);
            }
            throw new IOException($"{what}: got {size} bytes of {expected}");
        }
        if (!Sha256Etag().IsMatch(remote.Etag))
        {
            return;
        }
        await using var stream = new FileStream(partial, FileMode.Open, FileAccess.Read, FileShare.Read, BufferBytes);
        var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
        if (hash != remote.Etag)
        {
            File.Delete(partial);
            throw new IOException($"{what}: sha256 is {hash}, the Hub says {remote.Etag}; downloading again");
        }
    }

    /// <summary>One request; redirects are followed by hand, the token only goes to the Hub's own host.</summary>
    async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, long rangeFrom, bool followAnyRedirect, CancellationToken cancellationToken)
    {
        const int MaxRedirects = 10;
        for (var hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, url);
            if (options.Token is { } token && SameOrigin(url, endpoint))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            if (rangeFrom > 0)
            {
                request.Headers.Range = new RangeHeaderValue(rangeFrom, null);
            }
            var response = await WithStallTimeout(token => http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token), cancellationToken);
            if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                // Like huggingface_hub, a HEAD follows only relative redirects (a renamed repo), not the one to the CDN.
                if (!followAnyRedirect && location.IsAbsoluteUri)
                {
                    return response;
                }
                response.Dispose();
                if (hop == MaxRedirects)
                {
                    throw new InvalidInputException(url.ToString(), $"more than {MaxRedirects} redirects");
                }
                url = location.IsAbsoluteUri ? location : new Uri(url, location);
                continue;
            }
            return response;
        }
    }

    /// <summary>Runs one step (request headers, or one read) with a stall timeout that becomes a retryable TimeoutException.</summary>
    async Task<T> WithStallTimeout<T>(Func<CancellationToken, Task<T>> step, CancellationToken cancellationToken)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(options.StallTimeout);
        try
        {
            return await step(stall.Token);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no answer from the Hub for {options.StallTimeout.TotalSeconds:F0} s", e);
        }
    }

    /// <summary>Retries transient failures; what is still failing after the last try becomes a clear user-facing error.</summary>
    async Task<T> RetryAsync<T>(string what, Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        try
        {
            return await retry.ExecuteAsync(async token => await action(token), cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            var status = (e as HttpRequestException)?.StatusCode is { } code ? $" (HTTP {(int)code})" : "";
            throw new InvalidInputException(what,
                $"could not fetch it from {options.Endpoint}{status} after {MaxRetries + 1} tries: {e.Message}. "
                + "Check the network, or set HF_HUB_OFFLINE=1 to use only the cache", inner: e);
        }
    }

    static bool IsTransient(Exception? error, CancellationToken cancellationToken) => error switch
    {
        HttpRequestException http => http.StatusCode is not { } status || IsRetryableStatus(status),
        IOException or TimeoutException => true,
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        _ => false,
    };

    static bool IsRetryableStatus(HttpStatusCode status) =>
        (int)status >= 500 || status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout;

    /// <summary>Not-found and access errors are the user's to fix and are not retried; server trouble is.</summary>
    void ThrowOnError(HttpResponseMessage response, string what, string? revision)
    {
        var status = response.StatusCode;
        if ((int)status < 400)
        {
            return;
        }
        var errorCode = Header(response, "X-Error-Code");
        var tokenHint = options.Token is null
            ? "if it is private or gated, accept its terms on the Hub and set HF_TOKEN"
            : "the token in HF_TOKEN (or the token file) has no access to it";
        switch (status)
        {
            case HttpStatusCode.NotFound when errorCode == "RevisionNotFound":
                throw new InvalidInputException(what, $"revision '{revision}' not found on {options.Endpoint}");
            case HttpStatusCode.NotFound when errorCode == "EntryNotFound":
                throw new InvalidInputException(what, $"file not found in the repository on {options.Endpoint}");
            case HttpStatusCode.NotFound:
                throw new InvalidInputException(what, $"repository not found on {options.Endpoint} (check --model; {tokenHint})");
            case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden when errorCode == "GatedRepo":
                throw new InvalidInputException(what, $"the repository is gated: {tokenHint}");
            case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden:
                throw new InvalidInputException(what, $"not found or not allowed (HTTP {(int)status}): {tokenHint}");
        }
        throw new HttpRequestException($"{what}: HTTP {(int)status} {response.ReasonPhrase}", null, status);
    }

    static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out var values) || response.Content.Headers.NonValidated.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    static string NormalizeEtag(string etag)
    {
        etag = etag.Trim();
        if (etag.StartsWith("W/", StringComparison.Ordinal))
        {
            etag = etag[2..];
        }
        return etag.Trim('"');
    }

    static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;

    static string EscapePath(string file) => string.Join('/', file.Split('/').Select(Uri.EscapeDataString));

    internal static bool IsPickle(string file) =>
        file.EndsWith(".bin", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".pt", StringComparison.OrdinalIgnoreCase)
        || file.EndsWith(".pth", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".pkl", StringComparison.OrdinalIgnoreCase)
        || file.EndsWith(".ckpt", StringComparison.OrdinalIgnoreCase);

    // Branch and tag names, or refs/pr/N: no empty, "." or ".." segments, since the name becomes a path under refs/.
    static bool IsSafeRevision(string revision) =>
        SafeRevision().IsMatch(revision) && revision.Split('/').All(part => part.Length > 0 && part != "." && part != "..");

    [GeneratedRegex("^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")]
    private static partial Regex SafeEtag();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Etag();

    [GeneratedRegex("^[A-Za-z0-9_./+-]+$")]
    private static partial Regex SafeRevision();

    public void Dispose() => http.Dispose();
}
