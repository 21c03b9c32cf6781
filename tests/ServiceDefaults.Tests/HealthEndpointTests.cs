using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Activations.ServiceDefaults.Tests;

public class HealthEndpointTests
{
    static readonly HttpClient Client = new() { Timeout = TimeSpan.FromSeconds(10) };

    static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    static async Task<HttpStatusCode> GetAsync(Uri baseAddress, string path)
    {
        using var response = await Client.GetAsync(new Uri(baseAddress, path));
        return response.StatusCode;
    }

    static HealthCheckResult Check(bool healthy) => healthy ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy();

    /// <summary>A started host serving the health endpoint on a free port, with the checks <paramref name="add"/> registers.</summary>
    static async Task<(IHost Host, Uri Address)> StartAsync(Action<IHealthChecksBuilder> add)
    {
        var port = FreePort();
        var builder = Host.CreateApplicationBuilder();
        add(builder.Services.AddHealthEndpoint(port));
        var host = builder.Build();
        await host.StartAsync();
        return (host, new Uri($"http://127.0.0.1:{port}/"));
    }

    [Fact]
    public async Task Started_early_it_answers_live_and_not_ready_without_creating_the_checks_until_the_host_starts()
    {
        var port = FreePort();
        var builder = Host.CreateApplicationBuilder();
        var created = false;
        var failing = false;
        builder.Services.AddHealthEndpoint(port).AddCheck("failing", () => Check(!failing), tags: [HealthTags.Live, HealthTags.Ready]);
        // Creating the checks needs what exists only once the host starts (the worker's bus needs its model).
        builder.Services.AddSingleton<IConfigureOptions<HealthCheckServiceOptions>>(new ConfigureOptions<HealthCheckServiceOptions>(_ => created = true));
        using var host = builder.Build();
        var address = new Uri($"http://127.0.0.1:{port}/");

        await host.Services.GetRequiredService<HealthEndpoint>().StartEarlyAsync(CancellationToken.None);
        failing = true;
        Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/live"));
        using (var body = await Client.GetAsync(new Uri(address, "/health/ready")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, body.StatusCode);
            Assert.Equal("not ready: starting", (await body.Content.ReadAsStringAsync()).Trim());
        }
        Assert.False(created);

        await host.StartAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await GetAsync(address, "/health/live"));
        Assert.True(created);
        failing = false;
        Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/ready"));
        await host.StopAsync();
    }

    [Fact]
    public async Task Ready_follows_the_ready_checks_and_live_stays_200()
    {
        var modelLoaded = false;
        var brokerConnected = true;
        var (host, address) = await StartAsync(checks => checks
            .AddCheck("model", () => Check(modelLoaded), tags: [HealthTags.Ready])
            .AddCheck("broker", () => Check(brokerConnected), tags: [HealthTags.Ready]));
        using (host)
        {
            Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/live"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await GetAsync(address, "/health/ready"));
            using (var body = await Client.GetAsync(new Uri(address, "/health/ready")))
            {
                Assert.Equal("not ready: model", (await body.Content.ReadAsStringAsync()).Trim());
            }

            modelLoaded = true;
            Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/ready"));

            brokerConnected = false;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await GetAsync(address, "/health/ready"));
            Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/live"));
            Assert.Equal(HttpStatusCode.NotFound, await GetAsync(address, "/elsewhere"));
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_check_that_throws_is_not_ready()
    {
        var (host, address) = await StartAsync(checks => checks
            .AddCheck("boom", () => throw new InvalidOperationException("boom"), tags: [HealthTags.Ready]));
        using (host)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await GetAsync(address, "/health/ready"));
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_check_that_cannot_be_created_fails_the_probe_and_the_endpoint_keeps_serving()
    {
        var (host, address) = await StartAsync(checks => checks.Add(new HealthCheckRegistration(
            "unbuildable", _ => throw new InvalidOperationException("a dependency is missing"), HealthStatus.Unhealthy, [HealthTags.Ready])));
        using (host)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await GetAsync(address, "/health/ready"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await GetAsync(address, "/health/ready"));
            Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/live"));
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task Live_follows_only_the_live_checks()
    {
        var progressing = true;
        var (host, address) = await StartAsync(checks => checks
            .AddCheck("progress", () => Check(progressing), tags: [HealthTags.Live])
            .AddCheck("model", () => Check(false), tags: [HealthTags.Ready]));
        using (host)
        {
            Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/live"));
            progressing = false;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await GetAsync(address, "/health/live"));
            using (var body = await Client.GetAsync(new Uri(address, "/health/live")))
            {
                Assert.Equal("not live: progress", (await body.Content.ReadAsStringAsync()).Trim());
            }
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task As_a_hosted_service_it_serves_while_the_host_runs_and_stops_with_it()
    {
        var ready = false;
        var (host, address) = await StartAsync(checks => checks
            .AddCheck("ready", () => Check(ready), tags: [HealthTags.Ready])
            .AddCheck("untagged", () => Check(false)));
        using (host)
        {
            Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/live"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await GetAsync(address, "/health/ready"));
            ready = true;
            // A check in neither probe counts for neither.
            Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/ready"));

            await host.StopAsync();
            await Assert.ThrowsAsync<HttpRequestException>(() => GetAsync(address, "/health/live"));
        }
    }
}
