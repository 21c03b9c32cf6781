using System.Text.Json;
using System.Text.Json.Nodes;
using Activations.Contracts;

namespace Activations.Probing.Input;

/// <summary>
/// What manifest.json says about the capture, read tolerantly (fields may be added or missing): the model, pooling,
/// BOS policy, the pair counts and, where the manifest names them, which hook each file holds.
/// </summary>
public sealed record RunDescription(string? Model, string? Pooling, string? BosPolicy, string? Dtype, int? Faithful, int? Unfaithful, IReadOnlyDictionary<string, string> HookByFile)
{
    public const string ManifestFileName = "manifest.json";

    public static readonly RunDescription None = new(null, null, null, null, null, null, new Dictionary<string, string>());

    /// <summary>Reads folder/manifest.json; none there is allowed (files from elsewhere), a malformed one is bad input.</summary>
    public static RunDescription Read(string folder)
    {
        var path = Path.Combine(folder, ManifestFileName);
        if (!File.Exists(path))
        {
            return None;
        }
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidInputException(path, $"is not valid JSON: {e.Message}", inner: e);
        }
        if (root is not JsonObject manifest)
        {
            throw new InvalidInputException(path, "is not a JSON object");
        }
        var model = manifest["model"] switch
        {
            JsonObject m => Text(m["id"]) is { } id ? ((Text(m["resolved_commit"]) ?? Text(m["revision"])) is { } rev ? $"{id} @ {rev}" : id) : null,
            var other => Text(other),
        };
        var pairs = manifest["pair_ids"] as JsonObject;
        return new RunDescription(
            model,
            Text(manifest["pooling"]),
            Text(manifest["bos_policy"]),
            Text(manifest["dtype"]),
            (pairs?["faithful"] as JsonArray)?.Count,
            (pairs?["unfaithful"] as JsonArray)?.Count,
            HooksByFile(manifest["hooks"]));
    }

    /// <summary>The hook a file holds: the manifest's word where it has one, else read from the file name.</summary>
    public string HookFor(string fileName, string stem) =>
        HookByFile.TryGetValue(fileName, out var hook) || HookByFile.TryGetValue(stem, out hook) ? hook : HookNames.HookForStem(stem);

    /// <summary>
    /// "hooks": a list of names (matched to files by the naming rule) or of objects naming a hook ("name" or "hook")
    /// and, in any string field, the files that hold it. Keys are file names or stems.
    /// </summary>
    static Dictionary<string, string> HooksByFile(JsonNode? hooks)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (hooks is not JsonArray list)
        {
            return map;
        }
        foreach (var entry in list)
        {
            if (Text(entry) is { } name)
            {
                map.TryAdd(HookNames.StemFor(name), name);
            }
            else if (entry is JsonObject hook && (Text(hook["name"]) ?? Text(hook["hook"])) is { } hookName)
            {
                map.TryAdd(HookNames.StemFor(hookName), hookName);
                foreach (var (_, value) in hook)
                {
                    foreach (var file in Strings(value))
                    {
                        map.TryAdd(Path.GetFileName(file), hookName);
                    }
                }
            }
        }
        return map;
    }

    static IEnumerable<string> Strings(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => [s],
        JsonArray a => a.SelectMany(Strings),
        JsonObject o => o.SelectMany(p => Strings(p.Value)),
        _ => [],
    };

    static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
