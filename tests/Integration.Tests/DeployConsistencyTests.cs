using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Activations.Coordinator.Tests;

namespace Activations.Integration.Tests;

/// <summary>
/// The coordinator and the workers must ask for the same model and revision, or they land on different queues and
/// the job waits for a worker that never comes. Both deployments are rendered by their own tools
/// (`docker-compose config`, `kubectl kustomize`) and the rendered commands compared.
/// </summary>
public class DeployConsistencyTests
{
    /// <summary>The repository's deploy/ folder, found upwards from the test's output folder.</summary>
    static readonly string Deploy = FindDeploy();

    static string FindDeploy()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "deploy", "docker-compose.yml")))
            {
                return Path.Combine(folder.FullName, "deploy");
            }
        }
        throw new DirectoryNotFoundException($"no deploy/docker-compose.yml above {AppContext.BaseDirectory}");
    }

    [Fact]
    public async Task Compose_passes_the_same_model_and_revision_to_the_coordinator_and_every_worker()
    {
        // The credentials as a user makes them (deploy/generate-secrets.sh); the model and revision from the environment.
        using var temp = new TempFolder();
        var envFile = Path.Combine(temp.Path, ".env");
        await RunAsync("sh", [Path.Combine(Deploy, "generate-secrets.sh"), "compose", envFile]);
        var environment = new Dictionary<string, string>
        {
            ["MODEL"] = "org/some-model", ["MODEL_REVISION"] = "v2-branch", ["COMPOSE_PROFILES"] = "gpu8",
        };
        var rendered = await YamlToJsonAsync(await RunAsync("docker-compose", ["-f", Path.Combine(Deploy, "docker-compose.yml"), "--env-file", envFile, "config"], environment));
        var services = rendered[0]!["services"]!.AsObject();
        var coordinator = Command(services["coordinator"]!["command"]!);
        Assert.Equal(("org/some-model", "v2-branch"), (ValueOf(coordinator, "--model"), ValueOf(coordinator, "--revision")));
        var workers = services.Where(s => s.Key.StartsWith("worker-", StringComparison.Ordinal)).ToList();
        // worker-1 … worker-8, and the profile's other workers (worker-2gpu: one model over two GPUs).
        Assert.Subset(workers.Select(w => w.Key).ToHashSet(), Enumerable.Range(1, 8).Select(i => $"worker-{i}").ToHashSet());
        foreach (var (name, worker) in workers)
        {
            var command = Command(worker!["command"]!);
            Assert.True((ValueOf(command, "--model"), ValueOf(command, "--revision")) == ("org/some-model", "v2-branch"), $"{name}: {string.Join(' ', command)}");
        }
    }

    [Fact]
    public async Task Kubernetes_passes_the_same_model_and_revision_to_the_coordinator_and_the_workers()
    {
        // The self-contained overlay's credentials (gitignored; an existing set is kept), as .ci/run makes them.
        await RunAsync("sh", [Path.Combine(Deploy, "generate-secrets.sh"), "k8s"]);
        var rendered = await YamlToJsonAsync(await RunAsync("kubectl", ["kustomize", Path.Combine(Deploy, "k8s")]));
        JsonNode Kind(string kind, string name) => rendered.Single(o => (string?)o!["kind"] == kind && (string?)o!["metadata"]!["name"] == name)!;
        var config = rendered.Single(o => (string?)o!["kind"] == "ConfigMap" && ((string?)o!["metadata"]!["name"])!.StartsWith("activations-config", StringComparison.Ordinal))!;
        var configName = (string)config["metadata"]!["name"]!;
        var values = config["data"]!.AsObject();

        (string? Model, string? Revision) Resolved(JsonNode podSpec)
        {
            var container = podSpec["containers"]![0]!;
            Assert.Contains(container["envFrom"]!.AsArray(), e => (string?)e!["configMapRef"]?["name"] == configName);
            var args = Command(container["args"]!);
            string? Expand(string? value) => value is ['$', '(', .. var variable, ')'] ? (string?)values[variable] : value;
            return (Expand(ValueOf(args, "--model")), Expand(ValueOf(args, "--revision")));
        }

        var coordinator = Resolved(Kind("Job", "coordinator")["spec"]!["template"]!["spec"]!);
        var worker = Resolved(Kind("Deployment", "gpu-worker")["spec"]!["template"]!["spec"]!);
        Assert.NotNull(coordinator.Model);
        Assert.NotNull(coordinator.Revision);
        Assert.Equal(worker, coordinator);
    }

    static string[] Command(JsonNode node) => node.AsArray().Select(a => (string)a!).ToArray();

    static string? ValueOf(string[] command, string option)
    {
        var at = Array.IndexOf(command, option);
        return at >= 0 && at + 1 < command.Length ? command[at + 1] : null;
    }

    /// <summary>Every YAML document as JSON, through python3's yaml module (docker-compose depends on it).</summary>
    static async Task<JsonArray> YamlToJsonAsync(string yaml)
    {
        var json = await RunAsync("python3", ["-c", "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))"], input: yaml);
        return JsonNode.Parse(json)!.AsArray();
    }

    /// <summary>Runs a tool to the end (1 minute at most); fails, never skips, when it is missing or fails.</summary>
    static async Task<string> RunAsync(string tool, string[] arguments, IDictionary<string, string>? environment = null, string? input = null)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"{tool} is needed to render the deployment (apt-get install docker-compose kubectl): {e.Message}");
            throw;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.StandardInput.WriteAsync(input ?? "");
            process.StandardInput.Close();
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await process.WaitForExitAsync(limit.Token);
            Assert.True(process.ExitCode == 0, $"{tool} {string.Join(' ', arguments)} failed:\n{await stderr}");
            return await stdout;
        }
    }
}
