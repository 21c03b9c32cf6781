using Activations.ServiceDefaults;

namespace Activations.Worker.Loading.Hub;

/// <summary>
/// Where the Hugging Face cache lives and how to reach the Hub. Read from the environment by
/// <see cref="FromEnvironment()"/> with the same variables and precedence as Python's huggingface_hub.
/// </summary>
public sealed record HubOptions
{
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>The hub cache folder that holds models--{org}--{name} folders.</summary>
    public required string CacheRoot { get; init; }

    public string Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>Sent as a bearer token to the Hub (never to other hosts a download redirects to).</summary>
    public string? Token { get; init; }

    /// <summary>Use the cache only; never touch the network.</summary>
    public bool Offline { get; init; }

    /// <summary>Retries per request after the first try.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>The first retry's delay; later ones back off exponentially.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long to wait for response headers, or for the next bytes of a download, before retrying.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Download progress is logged at most this often.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The options with the token masked.</summary>
    public override string ToString() => Redacted.Describe(this);

    /// <summary>Reads the process environment and the token file.</summary>
    public static HubOptions FromEnvironment()
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            environment[(string)entry.Key] = entry.Value as string;
        }
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return FromEnvironment(environment, home, path => File.Exists(path) ? File.ReadAllText(path) : null);
    }

    /// <summary>
    /// Pure form of <see cref="FromEnvironment()"/>: cache = HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub,
    /// where HF_HOME defaults to $XDG_CACHE_HOME/huggingface, then ~/.cache/huggingface. Token = HF_TOKEN, else
    /// HUGGING_FACE_HUB_TOKEN, else the file at HF_TOKEN_PATH or $HF_HOME/token (what `huggingface-cli login` writes).
    /// </summary>
    public static HubOptions FromEnvironment(IReadOnlyDictionary<string, string?> environment, string userHome, Func<string, string?> readFile)
    {
        string? Get(string name) => environment.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;
        string Expand(string path) => path == "~" ? userHome
            : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(userHome, path[2..])
            : path;

        var hfHome = Expand(Get("HF_HOME") ?? Path.Combine(Get("XDG_CACHE_HOME") ?? Path.Combine(userHome, ".cache"), "huggingface"));
        var cacheRoot = Expand(Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(hfHome, "hub"));
        var token = Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN");
        if (token is null)
        {
            var fromFile = readFile(Expand(Get("HF_TOKEN_PATH") ?? Path.Combine(hfHome, "token")))?.Trim();
            token = string.IsNullOrEmpty(fromFile) ? null : fromFile;
        }
        return new HubOptions
        {
            CacheRoot = cacheRoot,
            Endpoint = (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/'),
            Token = token,
            Offline = IsTrue(Get("HF_HUB_OFFLINE") ?? Get("TRANSFORMERS_OFFLINE")),
        };
    }

    // The values huggingface_hub counts as true.
    static bool IsTrue(string? value) => value?.ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";
}
