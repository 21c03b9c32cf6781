using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Activations.Integration.Tests;

/// <summary>
/// Watches where processes connect: every 50 ms it maps each watched process's sockets (/proc/PID/fd) to the kernel's
/// TCP and UDP tables (/proc/PID/net/{tcp,tcp6,udp,udp6}) and records the remote ends; and it runs a trap proxy that the
/// processes get as HTTP_PROXY/HTTPS_PROXY/ALL_PROXY, so an HTTP request to any host (a vendor's telemetry, a model hub)
/// is recorded by name even where DNS or the network would stop it first.
/// </summary>
public sealed class ConnectionWatch : IAsyncDisposable
{
    readonly TcpListener _trap = new(IPAddress.Loopback, 0);
    readonly ConcurrentDictionary<int, byte> _pids = new();
    readonly ConcurrentDictionary<string, byte> _remotes = new();
    readonly ConcurrentQueue<string> _proxied = new();
    readonly CancellationTokenSource _stop = new();
    readonly Task _poll;
    readonly Task _accept;

    public ConnectionWatch()
    {
        _trap.Start();
        _poll = Task.Run(PollAsync);
        _accept = Task.Run(AcceptAsync);
    }

    /// <summary>The environment that sends a process's HTTP through the trap.</summary>
    public Dictionary<string, string?> Environment => new()
    {
        ["HTTP_PROXY"] = TrapAddress, ["HTTPS_PROXY"] = TrapAddress, ["ALL_PROXY"] = TrapAddress,
        ["http_proxy"] = TrapAddress, ["https_proxy"] = TrapAddress, ["all_proxy"] = TrapAddress,
        ["NO_PROXY"] = "", ["no_proxy"] = "",
    };

    string TrapAddress => $"http://127.0.0.1:{((IPEndPoint)_trap.LocalEndpoint).Port}";

    /// <summary>Remote ends seen (address:port), excluding the trap itself.</summary>
    public IReadOnlyCollection<string> Remotes => _remotes.Keys.Where(r => r != $"127.0.0.1:{((IPEndPoint)_trap.LocalEndpoint).Port}").ToList();

    /// <summary>The first line of every request that reached the trap (CONNECT host:443 …, GET http://…).</summary>
    public IReadOnlyCollection<string> Proxied => _proxied.ToList();

    public void Watch(int pid) => _pids[pid] = 0;

    /// <summary>The remote ends outside <paramref name="allowed"/> (loopback in IPv4, IPv6 or mapped form all match 127.0.0.1:port).</summary>
    public List<string> Outside(params string[] allowed) => Remotes.Where(r => !allowed.Contains(r)).ToList();

    async Task PollAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            foreach (var pid in _pids.Keys)
            {
                try
                {
                    Sample(pid);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The process ended between two reads.
                }
            }
            try
            {
                await Task.Delay(50, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    void Sample(int pid)
    {
        var inodes = new HashSet<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            var target = new FileInfo(fd).LinkTarget;
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
            {
                inodes.Add(target[8..^1]);
            }
        }
        foreach (var table in new[] { "tcp", "tcp6", "udp", "udp6" })
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/net/{table}").Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 10 || !inodes.Contains(f[9]))
                {
                    continue;
                }
                var remote = Decode(f[2]);
                if (remote is not null)
                {
                    _remotes[remote] = 0;
                }
            }
        }
    }

    /// <summary>"0100007F:1F90" (or the 32-digit IPv6 form) as "127.0.0.1:8080"; null for an unconnected socket.</summary>
    static string? Decode(string hex)
    {
        var (address, port) = (hex[..hex.IndexOf(':')], int.Parse(hex[(hex.IndexOf(':') + 1)..], NumberStyles.HexNumber));
        var bytes = Convert.FromHexString(address);
        // The kernel prints each 32-bit word in host (little-endian) order.
        for (var i = 0; i < bytes.Length; i += 4)
        {
            Array.Reverse(bytes, i, 4);
        }
        var ip = new IPAddress(bytes);
        if (port == 0 && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)))
        {
            return null;
        }
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }
        if (ip.Equals(IPAddress.IPv6Loopback))
        {
            ip = IPAddress.Loopback;
        }
        return $"{ip}:{port}";
    }

    async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _trap.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    var buffer = new byte[4096];
                    var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                    _proxied.Enqueue(Encoding.ASCII.GetString(buffer, 0, read).Split("\r\n")[0]);
                    await stream.WriteAsync("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _trap.Stop();
        await Task.WhenAll(_poll, _accept).ConfigureAwait(false);
        _stop.Dispose();
    }
}
