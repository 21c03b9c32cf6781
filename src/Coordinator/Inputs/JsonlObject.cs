using System.Text.Json;
using Activations.Contracts;

namespace Activations.Coordinator.Inputs;

/// <summary>A JSONL input line read as one JSON object, or refused in one line naming the file and line.</summary>
static class JsonlObject
{
    // The records are flat; a deep nesting is corrupt input, not data.
    static readonly JsonDocumentOptions ParseOptions = new() { MaxDepth = 64 };

    /// <summary>The parsed line (the caller disposes it); its root is a JSON object.</summary>
    public static JsonDocument Parse(string line, string path, int lineNumber)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line, ParseOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidInputException(path, $"malformed JSON: {e.Message}", lineNumber, inner: e);
        }
        var kind = document.RootElement.ValueKind;
        if (kind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new InvalidInputException(path, $"expected a JSON object, got {Describe(kind)}", lineNumber);
        }
        return document;
    }

    /// <summary>A JSON value's kind as an error message says it ("a number", "null").</summary>
    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}
