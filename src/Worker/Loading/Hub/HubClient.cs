using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Activations.Contracts;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Activations.Worker.Loading.Hub;

/// <summary>The etag (the blob's name) and size of a file in a Hub repository, as the Hub states them.</summary>
public sealed record RemoteFile(string Etag, long? Size);

/// <summary>
/// HTTP to the Hugging Face Hub: the token sent to the Hub's own host only, redirects followed by hand, a stall
/// timeout per step, transient failures retried, and the Hub's errors turned into messages a user can act on.
/// </summary>
public sealed partial class HubClient : IDisposable
{
    readonly HubOptions options;
    readonly HttpClient http;
    readonly Uri endpoint;
    readonly ResiliencePipeline retry;

    public HubClient(HubOptions options, ILogger logger)
    {
        this.options = options;
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

    // Polly needs at least one retry.
    int MaxRetries => Math.Max(options.MaxRetries, 1);

    /// <summary>The address of <paramref name="file"/> in <paramref name="repo"/> at <paramref name="commit"/>.</summary>
    public Uri FileUrl(HubRepoId repo, string commit, string file)
        => new(endpoint, $"{repo.Organization}/{repo.Name}/resolve/{commit}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}");

    /// <summary>The commit a revision names, and the files the repository holds at it.</summary>
    public async Task<(string Commit, HashSet<string> Files)> GetRevisionAsync(HubRepoId repo, string revision, CancellationToken cancellationToken)
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
    public async Task<RemoteFile> HeadAsync(Uri url, string what, CancellationToken cancellationToken)
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

    /// <summary>One request; redirects are followed by hand, the token only goes to the Hub's own host.</summary>
    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, long rangeFrom, bool followAnyRedirect, CancellationToken cancellationToken)
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
    public async Task<T> WithStallTimeout<T>(Func<CancellationToken, Task<T>> step, CancellationToken cancellationToken)
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
    public async Task<T> RetryAsync<T>(string what, Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
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
    public void ThrowOnError(HttpResponseMessage response, string what, string? revision)
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

    [GeneratedRegex("^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")]
    private static partial Regex SafeEtag();

    public void Dispose() => http.Dispose();
}
