using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Activations.ServiceDefaults;
using Microsoft.Extensions.Logging;

namespace Activations.Worker.Loading.Hub;

/// <summary>
/// Downloads one blob into the cache: into {blob}.incomplete, resumed from where an earlier try stopped, checked
/// against the Hub's size and (for LFS files) sha256, and renamed into place only once whole and verified.
/// </summary>
public sealed partial class BlobDownloader(HubClient client, HubOptions options, ILogger logger)
{
    const int BufferBytes = 1 << 20;

    /// <summary>The suffix of a blob still being downloaded.</summary>
    public const string PartialSuffix = ".incomplete";

    public async Task DownloadAsync(Uri url, string what, RemoteFile remote, string blob, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        var partial = blob + PartialSuffix;
        await client.RetryAsync(what, async token =>
        {
            await DownloadAttemptAsync(url, what, remote, partial, token);
            return true;
        }, cancellationToken);
        AtomicFile.MoveIntoPlace(partial, blob);
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
        using var response = await client.SendAsync(HttpMethod.Get, url, have, followAnyRedirect: true, cancellationToken);
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
            client.ThrowOnError(response, what, revision: null);
            offset = 0; // A 200 to a range request: the server sends it all.
        }
        var total = remote.Size ?? (response.Content.Headers.ContentLength is { } length ? offset + length : null);
        logger.LogInformation("Downloading {File}: {Megabytes:F1} MB", what, total / 1e6);

        await using var output = new FileStream(partial, offset == 0 ? FileMode.Create : FileMode.Append, FileAccess.Write, FileShare.None, BufferBytes);
        await using var input = await client.WithStallTimeout(token => response.Content.ReadAsStreamAsync(token), cancellationToken);
        var buffer = new byte[BufferBytes];
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        long received = 0;
        while (true)
        {
            var read = await client.WithStallTimeout(token => input.ReadAsync(buffer, token).AsTask(), cancellationToken);
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

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Etag();
}
