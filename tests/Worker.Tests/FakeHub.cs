using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Activations.Worker.Tests;

/// <summary>
/// A real HTTP server on 127.0.0.1 in the Hugging Face Hub's URL layout: the revision API, resolve URLs
/// (LFS files answer with a redirect carrying X-Linked-Etag/X-Linked-Size, like the Hub, to a CDN path whose
/// own ETag is different), Range requests, and faults to inject. One request per connection.
/// </summary>
public sealed class FakeHub : IDisposable
{
    public sealed record Request(string Method, string Path, IReadOnlyDictionary<string, string> Headers);

    sealed record Repo(string Commit, Dictionary<string, byte[]> Files);

    readonly TcpListener listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource stop = new();
    readonly ConcurrentDictionary<string, Repo> repos = new(StringComparer.Ordinal);
    readonly ConcurrentQueue<Request> requests = new();
    readonly Task loop;
    int breaksLeft;
    int corruptionsLeft;
    int stallsLeft;
    int serverErrorsLeft;

    public FakeHub()
    {
        listener.Start();
        Endpoint = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        loop = Task.Run(AcceptLoop);
    }

    public string Endpoint { get; }

    public IReadOnlyList<Request> Requests => requests.ToArray();

    /// <summary>When set, requests without "Authorization: Bearer {token}" get 401.</summary>
    public string? RequiredToken { get; set; }

    /// <summary>The next full download of this file stops after half its bytes and the connection closes.</summary>
    public void BreakNextDownloadOf(string file)
    {
        BreakFile = file;
        breaksLeft = 1;
    }

    string? BreakFile { get; set; }

    /// <summary>The next full download of this file sends every byte, with one of them flipped.</summary>
    public void CorruptNextDownloadOf(string file)
    {
        CorruptFile = file;
        corruptionsLeft = 1;
    }

    string? CorruptFile { get; set; }

    /// <summary>The next full download of this file sends half its bytes, then goes silent for this long before hanging up.</summary>
    public void StallNextDownloadOf(string file, TimeSpan stall)
    {
        StallFile = file;
        StallTime = stall;
        stallsLeft = 1;
    }

    string? StallFile { get; set; }

    TimeSpan StallTime { get; set; }

    /// <summary>The next n requests get 503.</summary>
    public void FailNextRequests(int n) => serverErrorsLeft = n;

    /// <summary>Serves files as the repo at a new commit; returns the commit sha.</summary>
    public string AddRepo(string repo, IReadOnlyDictionary<string, byte[]> files)
    {
        var commit = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));
        repos[repo] = new Repo(commit, new Dictionary<string, byte[]>(files, StringComparer.Ordinal));
        return commit;
    }

    public static bool IsLfs(string file) => file.EndsWith(".safetensors", StringComparison.Ordinal) || file.EndsWith(".bin", StringComparison.Ordinal);

    public static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>The git blob sha1, the Hub's ETag for files kept in git.</summary>
    public static string GitBlobSha(byte[] content) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {content.Length}\0"), .. content]));

    async Task AcceptLoop()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            _ = Task.Run(() => Serve(client));
        }
    }

    async Task Serve(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var request = await ReadRequest(stream);
                if (request is null)
                {
                    return;
                }
                requests.Enqueue(request);
                await Respond(stream, request);
                client.Client.Shutdown(SocketShutdown.Send);
            }
            catch (IOException)
            {
            }
            catch (SocketException)
            {
            }
        }
    }

    static async Task<Request?> ReadRequest(NetworkStream stream)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (bytes.Count < 4 || !(bytes[^4] == '\r' && bytes[^3] == '\n' && bytes[^2] == '\r' && bytes[^1] == '\n'))
        {
            if (await stream.ReadAsync(one) == 0)
            {
                return null;
            }
            bytes.Add(one[0]);
        }
        var lines = Encoding.ASCII.GetString([.. bytes]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var first = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        return new Request(first[0], first[1], headers);
    }

    async Task Respond(NetworkStream stream, Request request)
    {
        if (Interlocked.Decrement(ref serverErrorsLeft) >= 0)
        {
            await Write(stream, request, 503, []);
            return;
        }
        if (RequiredToken is { } token && (!request.Headers.TryGetValue("Authorization", out var auth) || auth != $"Bearer {token}"))
        {
            await Write(stream, request, 401, [], new() { ["X-Error-Code"] = "GatedRepo" });
            return;
        }
        var path = request.Path.Split('?')[0];
        var parts = path.TrimStart('/').Split('/').Select(Uri.UnescapeDataString).ToArray();

        // /api/models/{org}/{name}/revision/{revision}
        if (parts.Length == 6 && parts[0] == "api" && parts[1] == "models" && parts[4] == "revision")
        {
            if (!repos.TryGetValue($"{parts[2]}/{parts[3]}", out var repo))
            {
                await Write(stream, request, 404, [], new() { ["X-Error-Code"] = "RepoNotFound" });
                return;
            }
            if (parts[5] != "main" && parts[5] != repo.Commit)
            {
                await Write(stream, request, 404, [], new() { ["X-Error-Code"] = "RevisionNotFound" });
                return;
            }
            var body = JsonSerializer.SerializeToUtf8Bytes(new
            {
                id = $"{parts[2]}/{parts[3]}",
                sha = repo.Commit,
                siblings = repo.Files.Keys.Select(name => new { rfilename = name }),
            });
            await Write(stream, request, 200, body, new() { ["Content-Type"] = "application/json" });
            return;
        }

        // /{org}/{name}/resolve/{revision}/{file}
        if (parts.Length >= 5 && parts[2] == "resolve")
        {
            if (!repos.TryGetValue($"{parts[0]}/{parts[1]}", out var repo))
            {
                await Write(stream, request, 404, [], new() { ["X-Error-Code"] = "RepoNotFound" });
                return;
            }
            var file = string.Join('/', parts[4..]);
            if ((parts[3] != "main" && parts[3] != repo.Commit) || !repo.Files.TryGetValue(file, out var content))
            {
                await Write(stream, request, 404, [], new() { ["X-Error-Code"] = "EntryNotFound" });
                return;
            }
            if (IsLfs(file))
            {
                var sha = Sha256(content);
                await Write(stream, request, 302, [], new()
                {
                    ["Location"] = $"{Endpoint}/cdn/{sha}?name={Uri.EscapeDataString(file)}",
                    ["X-Linked-Etag"] = $"\"{sha}\"",
                    ["X-Linked-Size"] = content.Length.ToString(),
                    ["X-Repo-Commit"] = repo.Commit,
                    ["ETag"] = "\"not-the-blob-name\"",
                });
                return;
            }
            await WriteContent(stream, request, file, content, new() { ["ETag"] = $"\"{GitBlobSha(content)}\"", ["X-Repo-Commit"] = repo.Commit });
            return;
        }

        // /cdn/{sha256}?name={file}: the LFS storage a Hub redirect points to.
        if (parts.Length == 2 && parts[0] == "cdn")
        {
            var found = repos.Values.SelectMany(r => r.Files).FirstOrDefault(f => Sha256(f.Value) == parts[1]);
            if (found.Value is null)
            {
                await Write(stream, request, 404, []);
                return;
            }
            await WriteContent(stream, request, found.Key, found.Value, new() { ["ETag"] = "\"cdn-etag\"" });
            return;
        }
        await Write(stream, request, 404, []);
    }

    async Task WriteContent(NetworkStream stream, Request request, string file, byte[] content, Dictionary<string, string> headers)
    {
        if (request.Headers.TryGetValue("Range", out var range) && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            var from = long.Parse(range["bytes=".Length..^1]);
            if (from >= content.Length)
            {
                headers["Content-Range"] = $"bytes */{content.Length}";
                await Write(stream, request, 416, [], headers);
                return;
            }
            headers["Content-Range"] = $"bytes {from}-{content.Length - 1}/{content.Length}";
            await Write(stream, request, 206, content[(int)from..], headers);
            return;
        }
        if (request.Method == "GET" && file == BreakFile && Interlocked.Decrement(ref breaksLeft) >= 0)
        {
            // Promise all the bytes, send half, and hang up.
            await Write(stream, request, 200, content, headers, sendOnly: content.Length / 2);
            return;
        }
        if (request.Method == "GET" && file == CorruptFile && Interlocked.Decrement(ref corruptionsLeft) >= 0)
        {
            var corrupt = content.ToArray();
            corrupt[corrupt.Length / 3] ^= 0xFF;
            await Write(stream, request, 200, corrupt, headers);
            return;
        }
        if (request.Method == "GET" && file == StallFile && Interlocked.Decrement(ref stallsLeft) >= 0)
        {
            await Write(stream, request, 200, content, headers, sendOnly: content.Length / 2);
            await Task.Delay(StallTime);
            return;
        }
        await Write(stream, request, 200, content, headers);
    }

    static async Task Write(NetworkStream stream, Request request, int status, byte[] body, Dictionary<string, string>? headers = null, int? sendOnly = null)
    {
        var text = new StringBuilder($"HTTP/1.1 {status} {(HttpStatusCode)status}\r\n");
        foreach (var (name, value) in headers ?? [])
        {
            text.Append($"{name}: {value}\r\n");
        }
        text.Append($"Content-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(text.ToString()));
        if (request.Method != "HEAD")
        {
            await stream.WriteAsync(body.AsMemory(0, sendOnly ?? body.Length));
        }
        await stream.FlushAsync();
    }

    public void Dispose()
    {
        stop.Cancel();
        listener.Stop();
        try
        {
            loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
        stop.Dispose();
    }
}
