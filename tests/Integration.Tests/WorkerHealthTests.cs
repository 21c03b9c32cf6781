using System.Net;
using System.Net.Sockets;
using Activations.Coordinator.Tests;

namespace Activations.Integration.Tests;

public class WorkerHealthTests
{
    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task The_worker_is_live_at_once_and_ready_once_its_model_is_loaded_and_the_broker_connected()
    {
        await using var servers = await TestServers.IsolateAsync();
        var port = FreePort();
        using var worker = CliProcess.Start(CliProcess.Worker, ["--rabbitmq", servers.RabbitMq, "--model", EngineReference.TinyModel, "--device", "cpu"],
            new Dictionary<string, string?> { ["ACTIVATIONS_HEALTH_PORT"] = port.ToString() });
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Assert.False(worker.HasExited, worker.Output + worker.Error);
            Assert.True(DateTime.UtcNow < deadline, "never ready:\n" + worker.Output + worker.Error);
            try
            {
                var ready = await client.GetAsync("health/ready");
                if (ready.StatusCode == HttpStatusCode.OK)
                {
                    break;
                }
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("health/live")).StatusCode);
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(100);
        }
        // Ready implies loaded: the log line comes before readiness can turn true.
        Assert.Contains("Loaded 25 of 28 layers", worker.Output);
    }
}
