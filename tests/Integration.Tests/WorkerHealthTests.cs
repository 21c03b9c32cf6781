using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Activations.Coordinator.Tests;
using Activations.Worker.Tests;
using Xunit.Abstractions;

namespace Activations.Integration.Tests;

public class WorkerHealthTests(ITestOutputHelper log)
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

    [Fact]
    public async Task While_its_model_downloads_the_worker_is_live_and_not_ready_and_ready_once_the_model_is_loaded()
    {
        await using var servers = await TestServers.IsolateAsync();
        using var hub = new FakeHub();
        using var home = new TempFolder();
        hub.AddRepo("test-org/tiny-qwen2", Directory.GetFiles(EngineReference.TinyModel).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes));
        // The weights' download goes silent half way for 10 s, then resumes: a large model's download, in short.
        var stall = TimeSpan.FromSeconds(10);
        hub.StallNextDownloadOf("model.safetensors", stall);
        var port = FreePort();
        var clock = Stopwatch.StartNew();
        using var worker = CliProcess.Start(CliProcess.Worker, ["--rabbitmq", servers.RabbitMq, "--model", "test-org/tiny-qwen2", "--device", "cpu"],
            new Dictionary<string, string?>
            {
                ["ACTIVATIONS_HEALTH_PORT"] = port.ToString(),
                ["HF_ENDPOINT"] = hub.Endpoint,
                ["HF_HOME"] = home.Path,
                ["HF_HUB_OFFLINE"] = "0",
            });
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
        TimeSpan? live = null;
        TimeSpan ready;
        while (true)
        {
            Assert.False(worker.HasExited, worker.Output + worker.Error);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), "never ready:\n" + worker.Output + worker.Error);
            try
            {
                var answer = await client.GetAsync("health/ready");
                if (answer.StatusCode == HttpStatusCode.OK)
                {
                    ready = clock.Elapsed;
                    break;
                }
                Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
                if ((await client.GetAsync("health/live")).StatusCode == HttpStatusCode.OK)
                {
                    live ??= clock.Elapsed;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(100);
        }
        log.WriteLine($"live after {live?.TotalSeconds:F1} s, ready after {ready.TotalSeconds:F1} s");
        Assert.True(ready >= stall, $"ready after {ready.TotalSeconds:F1} s: the download did not stall");
        Assert.True(live is { } seen && seen < stall, $"not live while the model downloaded (first live answer after {live?.TotalSeconds:F1} s, ready after {ready.TotalSeconds:F1} s)");
        Assert.Contains("Loaded 25 of 28 layers", worker.Output);
    }
}
