using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Activations.ServiceDefaults;

/// <summary>One readiness condition: the host is ready only when every registered check returns true.</summary>
public sealed record ReadinessCheck(string Name, Func<bool> IsReady);

/// <summary>One liveness condition: the process is live unless a check says it is stuck (with why).</summary>
public sealed record LivenessCheck(string Name, Func<(bool Live, string Detail)> Check);

/// <summary>
/// A tiny HTTP server (System.Net.HttpListener, no ASP.NET) for container probes:
/// <c>GET /health/live</c> answers 200 while the process runs; <c>GET /health/ready</c> answers 200 when every
/// <see cref="ReadinessCheck"/> returns true, else 503 naming the checks that are not ready (a check that throws is not ready).
/// Binds <c>http://+:{port}/</c> (all interfaces, what a Kubernetes or compose probe needs) and falls back to
/// <c>http://127.0.0.1:{port}/</c> where the wildcard is not permitted (Windows without a URL ACL).
/// </summary>
public sealed class HealthEndpoint : IHostedService, IAsyncDisposable
{
    /// <summary>The environment variable the hosts read the health port from.</summary>
    public const string PortEnvironmentVariable = "ACTIVATIONS_HEALTH_PORT";

    public const string LivePath = "/health/live";
    public const string ReadyPath = "/health/ready";

    readonly ReadinessCheck[] _checks;
    readonly LivenessCheck[] _liveness;
    readonly ILogger _logger;
    HttpListener? _listener;
    Task? _loop;

    public HealthEndpoint(int port, IEnumerable<ReadinessCheck> checks, ILogger<HealthEndpoint>? logger = null, IEnumerable<LivenessCheck>? liveness = null)
    {
        if (port is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(port), port, "a TCP port, 1 to 65535");
        }
        Port = port;
        _checks = checks.ToArray();
        _liveness = liveness?.ToArray() ?? [];
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public int Port { get; }

    /// <summary>The prefix actually bound (http://+:port/ or http://127.0.0.1:port/); null before start.</summary>
    public string? Prefix { get; private set; }

    /// <summary>An address a client on this machine can use; null before start.</summary>
    public Uri? LocalAddress => Prefix == null ? null : new Uri($"http://127.0.0.1:{Port}/");

    /// <summary>True when every readiness check returns true; the names of those that do not.</summary>
    public (bool Ready, IReadOnlyList<string> NotReady) Evaluate()
    {
        var failing = new List<string>();
        foreach (var check in _checks)
        {
            bool ok;
            try
            {
                ok = check.IsReady();
            }
            catch (Exception e)
            {
                _logger.LogWarning("Readiness check {Check} threw {Error}", check.Name, e.Message);
                ok = false;
            }
            if (!ok)
            {
                failing.Add(check.Name);
            }
        }
        return (failing.Count == 0, failing);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_listener != null)
        {
            throw new InvalidOperationException("The health endpoint is already started.");
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
                Respond(context);
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                _logger.LogDebug("Health endpoint: a response failed: {Error}", e.Message);
            }
        }
    }

    void Respond(HttpListenerContext context)
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
            var stuck = _liveness.Select(c => (c.Name, Result: c.Check())).Where(c => !c.Result.Live).ToList();
            status = stuck.Count == 0 ? 200 : 503;
            body = stuck.Count == 0 ? "live" : "not live: " + string.Join(", ", stuck.Select(c => $"{c.Name} ({c.Result.Detail})"));
        }
        else if (path == ReadyPath)
        {
            var (ready, notReady) = Evaluate();
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
    /// Serves <c>/health/live</c> and <c>/health/ready</c> on <paramref name="port"/> for the host's lifetime.
    /// Readiness is the conjunction of <paramref name="readinessChecks"/> and of every check added with
    /// <see cref="AddReadinessCheck(IServiceCollection, string, Func{IServiceProvider, bool})"/>; with none, ready = live.
    /// </summary>
    public static IServiceCollection AddHealthEndpoint(this IServiceCollection services, int port, params Func<bool>[] readinessChecks)
    {
        ArgumentNullException.ThrowIfNull(readinessChecks);
        for (var i = 0; i < readinessChecks.Length; i++)
        {
            services.AddSingleton(new ReadinessCheck($"check {i + 1}", readinessChecks[i]));
        }
        services.AddSingleton(sp => new HealthEndpoint(port, sp.GetServices<ReadinessCheck>(), sp.GetService<ILogger<HealthEndpoint>>()));
        services.AddHostedService(sp => sp.GetRequiredService<HealthEndpoint>());
        return services;
    }

    /// <summary>A named readiness check that reads state from the container (evaluated on every probe).</summary>
    public static IServiceCollection AddReadinessCheck(this IServiceCollection services, string name, Func<IServiceProvider, bool> isReady)
        => services.AddSingleton(sp => new ReadinessCheck(name, () => isReady(sp)));

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
