using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Activations.Contracts;
using Activations.Worker.Loading;
using Activations.Worker.Loading.Hub;
using Microsoft.Extensions.Logging.Abstractions;

namespace Activations.Worker.Tests;

/// <summary>The Hub locator against a real local HTTP server that serves the parity fixture in the Hub's layout.</summary>
public sealed class HubTests : IDisposable
{
    const string RepoId = "tiny-org/tiny-qwen2";

    readonly Fixtures.TempFolder home = new();
    readonly FakeHub hub = new();

    public void Dispose()
    {
        hub.Dispose();
        home.Dispose();
    }

    HubOptions Options(string? token = null, bool offline = false) => new()
    {
        CacheRoot = Path.Combine(home.Path, "hub"),
        Endpoint = hub.Endpoint,
        Token = token,
        Offline = offline,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        StallTimeout = TimeSpan.FromSeconds(3),
    };

    async Task<string> Resolve(string model, string? revision = null, HubOptions? options = null)
    {
        using var locator = new HubModelLocator(options ?? Options(), NullLogger.Instance);
        return await locator.ResolveAsync(model, revision, CancellationToken.None);
    }

    static Dictionary<string, byte[]> FixtureFiles() =>
        Directory.EnumerateFiles(Fixtures.ParityModel).ToDictionary(path => Path.GetFileName(path), File.ReadAllBytes);

    static void AssertSameFiles(IReadOnlyDictionary<string, byte[]> expected, string folder)
    {
        foreach (var (name, bytes) in expected)
        {
            Assert.True(File.Exists(Path.Combine(folder, name)), $"{name} is missing from {folder}");
            Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(folder, name)));
        }
    }

    [Fact]
    public async Task A_fresh_download_is_a_loadable_model_folder_with_identical_files_in_the_python_cache_layout()
    {
        var files = FixtureFiles();
        var commit = hub.AddRepo(RepoId, files);

        var folder = await Resolve(RepoId);

        var repoFolder = Path.Combine(home.Path, "hub", "models--tiny-org--tiny-qwen2");
        Assert.Equal(Path.Combine(repoFolder, "snapshots", commit), folder);
        AssertSameFiles(files, folder);
        Assert.Equal(48, ModelFolder.Open(folder).Config.HiddenSize);
        Assert.Equal(commit, File.ReadAllText(Path.Combine(repoFolder, "refs", "main")));
        // Snapshot entries are relative links to blobs named by sha256 (LFS) or the git blob sha.
        var weights = new FileInfo(Path.Combine(folder, "model.safetensors"));
        Assert.Equal($"../../blobs/{FakeHub.Sha256(files["model.safetensors"])}", weights.LinkTarget);
        Assert.Equal($"../../blobs/{FakeHub.GitBlobSha(files["config.json"])}", new FileInfo(Path.Combine(folder, "config.json")).LinkTarget);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(repoFolder, "blobs"), "*.incomplete"));
    }

    [Fact]
    public async Task A_second_resolve_uses_the_cache_without_any_request()
    {
        hub.AddRepo(RepoId, FixtureFiles());
        var first = await Resolve(RepoId);
        var requestsAfterFirst = hub.Requests.Count;
        Assert.True(requestsAfterFirst > 0);

        var second = await Resolve(RepoId);

        Assert.Equal(first, second);
        Assert.Equal(requestsAfterFirst, hub.Requests.Count);
    }

    [Fact]
    public async Task A_connection_broken_halfway_through_the_weights_is_retried_and_resumed_with_a_range_request()
    {
        var files = FixtureFiles();
        hub.AddRepo(RepoId, files);
        hub.BreakNextDownloadOf("model.safetensors");

        var folder = await Resolve(RepoId);

        AssertSameFiles(files, folder);
        var weightGets = hub.Requests.Where(r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, weightGets.Count);
        Assert.False(weightGets[0].Headers.ContainsKey("Range"));
        Assert.Equal($"bytes={files["model.safetensors"].Length / 2}-", weightGets[1].Headers["Range"]);
    }

    [Fact]
    public async Task Weights_whose_sha256_does_not_match_the_lfs_etag_are_downloaded_again()
    {
        var files = FixtureFiles();
        hub.AddRepo(RepoId, files);
        hub.CorruptNextDownloadOf("model.safetensors");

        var folder = await Resolve(RepoId);

        AssertSameFiles(files, folder);
        var weightGets = hub.Requests.Where(r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, weightGets.Count);
        Assert.All(weightGets, r => Assert.False(r.Headers.ContainsKey("Range")));
    }

    [Fact]
    public async Task A_download_that_stalls_times_out_and_resumes()
    {
        var files = FixtureFiles();
        hub.AddRepo(RepoId, files);
        hub.StallNextDownloadOf("model.safetensors", TimeSpan.FromSeconds(3));

        var folder = await Resolve(RepoId, options: Options() with { StallTimeout = TimeSpan.FromMilliseconds(300) });

        AssertSameFiles(files, folder);
        var weightGets = hub.Requests.Where(r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, weightGets.Count);
        Assert.Equal($"bytes={files["model.safetensors"].Length / 2}-", weightGets[1].Headers["Range"]);
    }

    [Fact]
    public async Task A_server_that_keeps_failing_gives_a_clear_error_after_the_retries()
    {
        hub.AddRepo(RepoId, FixtureFiles());
        hub.FailNextRequests(100);

        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Resolve(RepoId, options: Options() with { MaxRetries = 2 }));

        Assert.Contains("HTTP 503", error.Message);
        Assert.Equal(3, hub.Requests.Count);
    }

    [Fact]
    public async Task Server_errors_are_retried()
    {
        var files = FixtureFiles();
        hub.AddRepo(RepoId, files);
        hub.FailNextRequests(2);

        var folder = await Resolve(RepoId);

        AssertSameFiles(files, folder);
    }

    [Fact]
    public async Task The_token_is_sent_as_a_bearer_header_on_every_request()
    {
        hub.AddRepo(RepoId, FixtureFiles());
        hub.RequiredToken = "hf_secret";

        await Resolve(RepoId, options: Options(token: "hf_secret"));

        Assert.NotEmpty(hub.Requests);
        Assert.All(hub.Requests, r => Assert.Equal("Bearer hf_secret", r.Headers.GetValueOrDefault("Authorization")));
    }

    [Fact]
    public async Task A_gated_repo_without_a_token_says_to_set_HF_TOKEN_and_is_not_retried()
    {
        hub.AddRepo(RepoId, FixtureFiles());
        hub.RequiredToken = "hf_secret";

        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Resolve(RepoId));

        Assert.Contains("HF_TOKEN", error.Message);
        Assert.Contains(RepoId, error.Message);
        Assert.Single(hub.Requests);
    }

    [Fact]
    public async Task An_unknown_repo_is_a_clear_not_found_error_and_is_not_retried()
    {
        hub.AddRepo(RepoId, FixtureFiles());

        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Resolve("nobody/nothing"));

        Assert.StartsWith("nobody/nothing", error.Message);
        Assert.Contains("repository not found", error.Message);
        Assert.Single(hub.Requests);
    }

    [Fact]
    public async Task An_unknown_revision_is_a_clear_error()
    {
        hub.AddRepo(RepoId, FixtureFiles());

        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Resolve(RepoId, "no-such-branch"));

        Assert.Contains("revision 'no-such-branch' not found", error.Message);
    }

    [Fact]
    public async Task A_sharded_model_downloads_the_index_and_every_shard()
    {
        var files = FixtureFiles();
        var (index, shards) = Split(files["model.safetensors"]);
        files.Remove("model.safetensors");
        files["model.safetensors.index.json"] = index;
        foreach (var (name, bytes) in shards)
        {
            files[name] = bytes;
        }
        hub.AddRepo(RepoId, files);

        var folder = await Resolve(RepoId);

        AssertSameFiles(files, folder);
        Assert.False(File.Exists(Path.Combine(folder, "model.safetensors")));
        var model = ModelFolder.Open(folder);
        Assert.Equal(2, model.TensorFiles.Values.Select(f => f.Path).Distinct().Count());
        Assert.Equal(SafetensorsFile.Open(Path.Combine(Fixtures.ParityModel, "model.safetensors")).Entries.Count, model.TensorFiles.Count);
    }

    [Fact]
    public async Task A_cache_written_by_python_is_reused_offline()
    {
        var files = FixtureFiles();
        var commit = new string('a', 40);
        var repoFolder = Path.Combine(home.Path, "hub", "models--tiny-org--tiny-qwen2");
        var snapshot = Path.Combine(repoFolder, "snapshots", commit);
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(Path.Combine(repoFolder, "blobs"));
        Directory.CreateDirectory(Path.Combine(repoFolder, "refs"));
        foreach (var (name, bytes) in files)
        {
            var etag = FakeHub.IsLfs(name) ? FakeHub.Sha256(bytes) : FakeHub.GitBlobSha(bytes);
            File.WriteAllBytes(Path.Combine(repoFolder, "blobs", etag), bytes);
            File.CreateSymbolicLink(Path.Combine(snapshot, name), $"../../blobs/{etag}");
        }
        File.WriteAllText(Path.Combine(repoFolder, "refs", "main"), commit);

        var folder = await Resolve(RepoId, options: Options(offline: true));
        var byCommit = await Resolve(RepoId, commit, Options(offline: true));

        Assert.Equal(snapshot, folder);
        Assert.Equal(snapshot, byCommit);
        AssertSameFiles(files, folder);
        ModelFolder.Open(folder);
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public async Task Offline_without_a_cached_snapshot_is_a_clear_error_without_requests()
    {
        hub.AddRepo(RepoId, FixtureFiles());

        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Resolve(RepoId, options: Options(offline: true)));

        Assert.Contains("HF_HUB_OFFLINE", error.Message);
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public async Task Pickles_listed_next_to_safetensors_are_never_downloaded()
    {
        var files = FixtureFiles();
        files["pytorch_model.bin"] = [1, 2, 3];
        files["training_args.pt"] = [4, 5, 6];
        hub.AddRepo(RepoId, files);

        var folder = await Resolve(RepoId);

        Assert.DoesNotContain(hub.Requests, r => r.Path.Contains(".bin", StringComparison.Ordinal) || r.Path.Contains(".pt", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(folder, "pytorch_model.bin")));
        ModelFolder.Open(folder);
    }

    [Fact]
    public async Task A_repo_with_only_pickle_weights_is_refused_before_any_download()
    {
        var files = FixtureFiles();
        files.Remove("model.safetensors");
        files["pytorch_model.bin"] = [1, 2, 3];
        hub.AddRepo(RepoId, files);

        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Resolve(RepoId));

        Assert.Contains("pickle", error.Message);
        Assert.Single(hub.Requests);
    }

    [Fact]
    public async Task An_existing_folder_is_returned_as_is()
    {
        Assert.Equal(Path.GetFullPath(Fixtures.ParityModel), await Resolve(Fixtures.ParityModel));
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public async Task A_mistyped_path_beside_a_local_folder_is_not_taken_as_a_hub_id()
    {
        // The test host runs in the output folder, which holds fixtures/.
        Assert.True(Directory.Exists("fixtures"), Environment.CurrentDirectory);
        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Resolve("fixtures/modle"));
        Assert.Equal("fixtures/modle: model folder not found (not taken as a Hub id, since 'fixtures' is a local folder)", error.Message);
        Assert.Empty(hub.Requests);
    }

    [Theory]
    [InlineData("no-slash")]
    [InlineData("a/b/c")]
    [InlineData("bad id/name")]
    [InlineData("org/na$me")]
    [InlineData("../escape")]
    [InlineData("org--x/name")]
    [InlineData("/abs/path/that/does/not/exist")]
    public async Task A_model_that_is_neither_a_folder_nor_a_hub_id_names_the_model_option(string model)
    {
        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Resolve(model));

        Assert.Equal("--model", error.File);
        Assert.Contains(model, error.Message);
        Assert.Empty(hub.Requests);
    }

    [Theory]
    [InlineData("../../etc")]
    [InlineData("a//b")]
    [InlineData("main branch")]
    public async Task A_revision_that_could_escape_the_refs_folder_is_refused(string revision)
    {
        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Resolve(RepoId, revision));

        Assert.Equal("--revision", error.File);
    }

    [Fact]
    public void Options_from_the_environment_follow_huggingface_hub_precedence()
    {
        string? NoFile(string path) => null;

        var defaults = HubOptions.FromEnvironment(new Dictionary<string, string?>(), "/home/u", NoFile);
        Assert.Equal("/home/u/.cache/huggingface/hub", defaults.CacheRoot);
        Assert.Equal("https://huggingface.co", defaults.Endpoint);
        Assert.Null(defaults.Token);
        Assert.False(defaults.Offline);

        var xdg = HubOptions.FromEnvironment(new Dictionary<string, string?> { ["XDG_CACHE_HOME"] = "/x" }, "/home/u", NoFile);
        Assert.Equal("/x/huggingface/hub", xdg.CacheRoot);

        var hfHome = HubOptions.FromEnvironment(new Dictionary<string, string?> { ["HF_HOME"] = "~/hf", ["XDG_CACHE_HOME"] = "/x" }, "/home/u", NoFile);
        Assert.Equal("/home/u/hf/hub", hfHome.CacheRoot);

        var hubCache = HubOptions.FromEnvironment(new Dictionary<string, string?> { ["HF_HUB_CACHE"] = "/c", ["HF_HOME"] = "/h" }, "/home/u", NoFile);
        Assert.Equal("/c", hubCache.CacheRoot);

        var other = HubOptions.FromEnvironment(new Dictionary<string, string?>
        {
            ["HF_ENDPOINT"] = "http://mirror.local/",
            ["HF_HUB_OFFLINE"] = "1",
        }, "/home/u", NoFile);
        Assert.Equal("http://mirror.local", other.Endpoint);
        Assert.True(other.Offline);
        Assert.False(HubOptions.FromEnvironment(new Dictionary<string, string?> { ["HF_HUB_OFFLINE"] = "0" }, "/home/u", NoFile).Offline);
    }

    [Fact]
    public void The_token_comes_from_HF_TOKEN_else_the_token_file_in_HF_HOME()
    {
        var tokenFiles = new Dictionary<string, string> { ["/h/token"] = "hf_from_file\n", ["/home/u/.cache/huggingface/token"] = "hf_default" };
        string? Read(string path) => tokenFiles.GetValueOrDefault(path);

        Assert.Equal("hf_env", HubOptions.FromEnvironment(new Dictionary<string, string?> { ["HF_TOKEN"] = "hf_env", ["HF_HOME"] = "/h" }, "/home/u", Read).Token);
        Assert.Equal("hf_from_file", HubOptions.FromEnvironment(new Dictionary<string, string?> { ["HF_HOME"] = "/h" }, "/home/u", Read).Token);
        Assert.Equal("hf_from_file", HubOptions.FromEnvironment(new Dictionary<string, string?> { ["HF_TOKEN"] = " ", ["HF_HOME"] = "/h" }, "/home/u", Read).Token);
        Assert.Equal("hf_default", HubOptions.FromEnvironment(new Dictionary<string, string?>(), "/home/u", Read).Token);
        Assert.Null(HubOptions.FromEnvironment(new Dictionary<string, string?> { ["HF_HOME"] = "/elsewhere" }, "/home/u", Read).Token);
    }

    /// <summary>Splits a safetensors file into two shards (alternate tensors) and the index that names them.</summary>
    static (byte[] Index, Dictionary<string, byte[]> Shards) Split(byte[] safetensors)
    {
        var headerLength = (int)BitConverter.ToInt64(safetensors, 0);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(safetensors, 8, headerLength))!.AsObject();
        var dataStart = 8 + headerLength;
        var names = header.Select(p => p.Key).Where(k => k != "__metadata__").Order(StringComparer.Ordinal).ToList();
        var shardNames = new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
        var shards = new Dictionary<string, byte[]>();
        var weightMap = new JsonObject();
        for (var s = 0; s < 2; s++)
        {
            var shardHeader = new JsonObject();
            using var data = new MemoryStream();
            foreach (var name in names.Where((_, i) => i % 2 == s))
            {
                var entry = header[name]!.AsObject();
                var offsets = entry["data_offsets"]!.AsArray();
                var begin = offsets[0]!.GetValue<long>();
                var end = offsets[1]!.GetValue<long>();
                shardHeader[name] = new JsonObject
                {
                    ["dtype"] = entry["dtype"]!.DeepClone(),
                    ["shape"] = entry["shape"]!.DeepClone(),
                    ["data_offsets"] = new JsonArray(data.Length, data.Length + end - begin),
                };
                data.Write(safetensors, dataStart + (int)begin, (int)(end - begin));
                weightMap[name] = shardNames[s];
            }
            var headerBytes = Encoding.UTF8.GetBytes(shardHeader.ToJsonString());
            shards[shardNames[s]] = [.. BitConverter.GetBytes((long)headerBytes.Length), .. headerBytes, .. data.ToArray()];
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = shards.Values.Sum(b => b.Length) }, ["weight_map"] = weightMap };
        return (Encoding.UTF8.GetBytes(index.ToJsonString()), shards);
    }
}
