using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Activations.ServiceDefaults;

/// <summary>The tags that put a registered health check into a probe.</summary>
public static class HealthTags
{
    /// <summary>Checked by <c>/health/live</c>: failing means the process should be restarted.</summary>
    public const string Live = "live";

    /// <summary>Checked by <c>/health/ready</c>: failing means "send no work yet". MassTransit tags its bus check so.</summary>
    public const string Ready = "ready";
}

/// <summary>
/// Serves the <see cref="HealthCheckService"/>'s report to container probes from a small System.Net.HttpListener
/// (no ASP.NET: the worker's image carries the .NET runtime only). <c>GET /health/live</c> runs the checks tagged
/// <see cref="HealthTags.Live"/> (none: 200 while the process runs); <c>GET /health/ready</c> runs those tagged
/// <see cref="HealthTags.Ready"/>. Healthy or degraded answers 200, unhealthy 503 naming the checks that failed
/// (a check that throws is unhealthy). Binds <c>http://+:{port}/</c> (all interfaces, what a Kubernetes or compose
/// probe needs) and falls back to <c>http://127.0.0.1:{port}/</c> where the wildcard is not permitted.
/// Started early (<see cref="StartEarlyAsync"/>), before the host's other services exist, it answers live and not
/// ready without running any check, until the host's start turns the checks on.
/// </summary>
public sealed class HealthEndpoint : IHostedService, IAsyncDisposable
{
    /// <summary>The environment variable the hosts read the health port from.</summary>
    public const string PortEnvironmentVariable = "ACTIVATIONS_HEALTH_PORT";

    public const string LivePath = "/health/live";
    public const string ReadyPath = "/health/ready";

    readonly Func<HealthCheckService> _checks;
    readonly ILogger _logger;
    HttpListener? _listener;
    Task? _loop;
    volatile bool _checking;

    public HealthEndpoint(int port, HealthCheckService checks, ILogger<HealthEndpoint>? logger = null)
        : this(port, () => checks, logger)
    {
    }

    /// <param name="checks">the host's checks, asked for at the first probe once the host has started (creating them may need services that exist only then)</param>
    public HealthEndpoint(int port, Func<HealthCheckService> checks, ILogger<HealthEndpoint>? logger = null)
    {
        if (port is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(port), port, "a TCP port, 1 to 65535");
        }
        Port = port;
        _checks = checks;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public int Port { get; }

    /// <summary>The prefix actually bound (http://+:port/ or http://127.0.0.1:port/); null before start.</summary>
    public string? Prefix { get; private set; }

    /// <summary>An address a client on this machine can use; null before start.</summary>
    public Uri? LocalAddress => Prefix == null ? null : new Uri($"http://127.0.0.1:{Port}/");

    /// <summary>Runs the checks tagged <paramref name="tag"/>: whether they pass, and the names of those that do not.</summary>
    public async Task<(bool Healthy, IReadOnlyList<string> Failing)> EvaluateAsync(string tag, CancellationToken cancellationToken = default)
    {
        if (!_checking)
        {
            // Started early: the process runs, and nothing it needs to work is there yet.
            return tag == HealthTags.Live ? (true, []) : (false, ["starting"]);
        }
        HealthReport report;
        try
        {
            report = await _checks().CheckHealthAsync(check => check.Tags.Contains(tag), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A check that cannot even be created (its dependencies throw) fails the probe; the endpoint keeps serving.
            _logger.LogWarning("Health checks ({Tag}) could not run: {Error}", tag, e.Message);
            return (false, ["checks: " + e.Message]);
        }
        var failing = report.Entries.Where(e => e.Value.Status == HealthStatus.Unhealthy).Select(e => e.Key).ToList();
        foreach (var (name, entry) in report.Entries.Where(e => e.Value.Status == HealthStatus.Unhealthy && e.Value.Exception is not null))
        {
            _logger.LogWarning("Health check {Check} threw {Error}", name, entry.Exception!.Message);
        }
        return (report.Status != HealthStatus.Unhealthy, failing);
    }

    /// <summary>
    /// Listens before the host's other services exist (the worker's bus needs its model, which may take many minutes
    /// to download): live, not ready, no check run. The host's start then turns the checks on.
    /// </summary>
    public Task StartEarlyAsync(CancellationToken cancellationToken) => ListenAsync();

    /// <summary>The host's start: listens, if it was not started early, and answers from the checks.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await ListenAsync().ConfigureAwait(false);
        _checking = true;
    }

    Task ListenAsync()
    {
        if (_listener != null)
        {
            return Task.CompletedTask;
        }
        Exception? wildcardError = null;
        foreach (var prefix in new[] { $"http://+:{Port}/", $"http://127.0.0.1:{Port}/" })
        {
            var listener = new HttpListener();
            listener.Prefixes.Add(prefix);
            try
            {
                listener.Start();
            }
            catch (Exception e) when (e is HttpListenerException or SocketException)
            {
                listener.Close();
                if (wildcardError == null)
                {
                    wildcardError = e;
                    continue;
                }
                throw new InvalidOperationException($"The health endpoint could not listen on port {Port}: {e.Message}", e);
            }
            if (wildcardError != null)
            {
                _logger.LogWarning("Health endpoint: {Wildcard} not permitted ({Error}); listening on {Prefix} only", $"http://+:{Port}/", wildcardError.Message, prefix);
            }
            _listener = listener;
            Prefix = prefix;
            break;
        }
        _logger.LogInformation("Health endpoint on {Prefix} ({Live}, {Ready})", Prefix, LivePath, ReadyPath);
        _loop = Task.Run(() => ServeAsync(_listener!), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var listener = _listener;
        if (listener == null)
        {
            return;
        }
        _listener = null;
        listener.Close();
        if (_loop != null)
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    async Task ServeAsync(HttpListener listener)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // stopped
            }
            try
            {
                await RespondAsync(context).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                _logger.LogDebug("Health endpoint: a response failed: {Error}", e.Message);
            }
        }
    }

    async Task RespondAsync(HttpListenerContext context)
    {
        var request = context.Request;
        using var response = context.Response;
        var path = request.Url?.AbsolutePath.TrimEnd('/') ?? "";
        int status;
        string body;
        if (request.HttpMethod is not ("GET" or "HEAD"))
        {
            status = 405;
            body = "method not allowed";
            response.AddHeader("Allow", "GET, HEAD");
        }
        else if (path == LivePath)
        {
            var (live, failing) = await EvaluateAsync(HealthTags.Live).ConfigureAwait(false);
            status = live ? 200 : 503;
            body = live ? "live" : "not live: " + string.Join(", ", failing);
        }
        else if (path == ReadyPath)
        {
            var (ready, notReady) = await EvaluateAsync(HealthTags.Ready).ConfigureAwait(false);
            status = ready ? 200 : 503;
            body = ready ? "ready" : "not ready: " + string.Join(", ", notReady);
        }
        else
        {
            status = 404;
            body = "not found";
        }
        var bytes = Encoding.UTF8.GetBytes(body + "\n");
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        response.Headers["Cache-Control"] = "no-store";
        response.ContentLength64 = bytes.Length;
        if (request.HttpMethod != "HEAD")
        {
            response.OutputStream.Write(bytes);
        }
    }
}

public static class HealthEndpointExtensions
{
    /// <summary>
    /// Serves <c>/health/live</c> and <c>/health/ready</c> on <paramref name="port"/> for the host's lifetime, from
    /// the checks registered with <c>AddHealthChecks()</c> (tagged <see cref="HealthTags.Live"/> or <see cref="HealthTags.Ready"/>).
    /// </summary>
    public static IHealthChecksBuilder AddHealthEndpoint(this IServiceCollection services, int port)
    {
        services.AddSingleton(sp => new HealthEndpoint(port, () => sp.GetRequiredService<HealthCheckService>(), sp.GetService<ILogger<HealthEndpoint>>()));
        services.AddHostedService(sp => sp.GetRequiredService<HealthEndpoint>());
        return services.AddHealthChecks();
    }

    /// <summary>The port from <see cref="HealthEndpoint.PortEnvironmentVariable"/>, or null when it is unset or empty.</summary>
    public static int? PortFromEnvironment(string variable = HealthEndpoint.PortEnvironmentVariable)
    {
        var text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        if (!int.TryParse(text, out var port) || port is < 1 or > 65535)
        {
            throw new Contracts.InvalidInputException(variable, $"'{text}' is not a TCP port (1 to 65535)");
        }
        return port;
    }
}
