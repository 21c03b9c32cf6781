using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

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

    [Fact]
    public async Task Ready_follows_the_checks_and_live_stays_200()
    {
        var modelLoaded = false;
        var brokerConnected = true;
        await using var endpoint = new HealthEndpoint(FreePort(), [new("model", () => modelLoaded), new("broker", () => brokerConnected)]);
        await endpoint.StartAsync(CancellationToken.None);
        var address = endpoint.LocalAddress!;

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
    }

    [Fact]
    public async Task A_check_that_throws_is_not_ready()
    {
        await using var endpoint = new HealthEndpoint(FreePort(), [new("boom", () => throw new InvalidOperationException("boom"))]);
        await endpoint.StartAsync(CancellationToken.None);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await GetAsync(endpoint.LocalAddress!, "/health/ready"));
    }

    [Fact]
    public async Task As_a_hosted_service_it_serves_while_the_host_runs_and_stops_with_it()
    {
        var port = FreePort();
        var ready = false;
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddHealthEndpoint(port, () => ready);
        builder.Services.AddReadinessCheck("always", _ => true);
        using var host = builder.Build();
        await host.StartAsync();
        var address = new Uri($"http://127.0.0.1:{port}/");

        Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/live"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await GetAsync(address, "/health/ready"));
        ready = true;
        Assert.Equal(HttpStatusCode.OK, await GetAsync(address, "/health/ready"));

        await host.StopAsync();
        await Assert.ThrowsAsync<HttpRequestException>(() => GetAsync(address, "/health/live"));
    }
}
