using System.Text.Json;
using System.Text.Json.Nodes;
using Activations.Contracts;
using Tokenizers.DotNet;

namespace Activations.Worker.Tokenization;

/// <summary>
/// The model's own tokenizer.json (Hugging Face tokenizers, through Tokenizers.DotNet) with the BOS policy
/// decided here and nowhere else. The file's post-processor is removed before loading, because it would put a
/// BOS in front by itself; the BOS (tokenizer_config.json's bos_token) is then added once when the policy asks.
/// </summary>
public sealed class QuestionTokenizer : IDisposable
{
    readonly Tokenizer tokenizer;
    readonly Lock gate = new();

    QuestionTokenizer(Tokenizer tokenizer, int? bosTokenId, string? bosToken)
    {
        this.tokenizer = tokenizer;
        BosTokenId = bosTokenId;
        BosToken = bosToken;
    }

    public int? BosTokenId { get; }

    public string? BosToken { get; }

    public static QuestionTokenizer Load(string tokenizerJson, string tokenizerConfigJson)
    {
        var tokenizerNode = ParseObject(tokenizerJson);
        tokenizerNode["post_processor"] = null;
        var bosToken = ReadBosToken(tokenizerConfigJson);
        int? bosId = bosToken is null ? null : FindTokenId(tokenizerNode, bosToken);
        if (bosToken is not null && bosId is null)
        {
            throw new InvalidInputException(tokenizerConfigJson, $"the BOS token '{bosToken}' is not in {Path.GetFileName(tokenizerJson)}", field: "bos_token");
        }
        // Tokenizers.DotNet reads only from a file: give it the copy without the post-processor.
        var copy = Path.Combine(Path.GetTempPath(), $"activations-tokenizer-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(copy, tokenizerNode.ToJsonString());
            return new QuestionTokenizer(new Tokenizer(copy), bosId, bosToken);
        }
        catch (TokenizerException e)
        {
            throw new InvalidInputException(tokenizerJson, $"not a tokenizer the Hugging Face tokenizers library can read: {e.Message}");
        }
        finally
        {
            File.Delete(copy);
        }
    }

    /// <summary>The model input for <paramref name="text"/>: its tokens, with the BOS once in front under <see cref="BosPolicy.Bos"/>.</summary>
    public int[] Encode(string text, BosPolicy policy)
    {
        uint[] raw;
        lock (gate)
        {
            raw = tokenizer.Encode(text);
        }
        var ids = Array.ConvertAll(raw, id => (int)id);
        if (policy == BosPolicy.NoBos)
        {
            return ids;
        }
        var bos = BosTokenId ?? throw new InvalidOperationException("the tokenizer has no BOS token; use the no-bos policy");
        return ids.Length > 0 && ids[0] == bos ? ids : [bos, .. ids];
    }

    public void Dispose() => tokenizer.Dispose();

    static JsonObject ParseObject(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new InvalidInputException(path, "expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException(path, $"not valid JSON: {e.Message}", (int?)e.LineNumber + 1);
        }
    }

    static string? ReadBosToken(string path)
    {
        var node = ParseObject(path)["bos_token"];
        return node switch
        {
            null => null,
            JsonValue value when value.TryGetValue<string>(out var text) => text,
            JsonObject added when added["content"] is JsonValue content && content.TryGetValue<string>(out var text) => text,
            _ => throw new InvalidInputException(path, "expected a string or an AddedToken object", field: "bos_token"),
        };
    }

    static int? FindTokenId(JsonObject tokenizer, string token)
    {
        if (tokenizer["added_tokens"] is JsonArray added)
        {
            foreach (var entry in added.OfType<JsonObject>())
            {
                if ((string?)entry["content"] == token && entry["id"] is JsonValue id)
                {
                    return id.GetValue<int>();
                }
            }
        }
        if (tokenizer["model"]?["vocab"] is JsonObject vocab && vocab[token] is JsonValue vocabId)
        {
            return vocabId.GetValue<int>();
        }
        return null;
    }
}
