using System.Text.Json;
using Activations.Contracts;

namespace Activations.Coordinator.Inputs;

/// <summary>One question from the responses file: the pair, its variant (q1/q2) and the line it came from.</summary>
public sealed record ResponseRow(string PairId, string Variant, string Question, int Line);

/// <summary>The questions of a responses file, looked up by pair and variant.</summary>
public sealed class ResponseSet
{
    readonly Dictionary<(string PairId, string Variant), ResponseRow> _byKey;

    internal ResponseSet(string path, Dictionary<(string PairId, string Variant), ResponseRow> byKey)
    {
        Path = path;
        _byKey = byKey;
    }

    public string Path { get; }

    public int Count => _byKey.Count;

    public bool TryGet(string pairId, string variant, out ResponseRow row) =>
        _byKey.TryGetValue((pairId, variant), out row!);
}

/// <summary>
/// Reads model_*_responses.jsonl: one JSON object per line with <c>pair_id</c>, <c>variant</c> (q1/q2) and
/// <c>question</c>; other fields (the response text, the model) are ignored and blank lines skipped.
/// Lines are read with a byte limit, so a runaway line is refused without being read into memory.
/// </summary>
public sealed class ResponsesJsonlReader(int maxLineBytes = ResponsesJsonlReader.DefaultMaxLineBytes)
{
    public const int DefaultMaxLineBytes = 16 << 20;
    public const string PairIdField = "pair_id";
    public const string VariantField = "variant";
    public const string QuestionField = "question";
    public static readonly IReadOnlyList<string> Variants = ["q1", "q2"];

    public int MaxLineBytes { get; } = maxLineBytes > 0
        ? maxLineBytes
        : throw new ArgumentOutOfRangeException(nameof(maxLineBytes), "must be positive");

    public ResponseSet Read(string path) => Read(path, InputFile.OpenRead);

    internal ResponseSet Read(string path, Func<string, Stream> openRead)
    {
        using var lines = new BoundedLineReader(InputFile.Open(path, openRead), path, MaxLineBytes);
        var byKey = new Dictionary<(string, string), ResponseRow>();
        while (lines.ReadLine() is { } line)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var row = ParseLine(line, path, lines.LineNumber);
            if (byKey.TryGetValue((row.PairId, row.Variant), out var first))
            {
                throw new InvalidInputException(path,
                    $"duplicate ({row.PairId}, {row.Variant}): first on line {first.Line}, again on line {row.Line}",
                    row.Line, PairIdField);
            }
            byKey[(row.PairId, row.Variant)] = row;
        }
        if (lines.WasEmpty)
        {
            throw new InvalidInputException(path, "file is empty", 1);
        }
        return new ResponseSet(path, byKey);
    }

    static ResponseRow ParseLine(string line, string path, int lineNumber)
    {
        using (var document = JsonlObject.Parse(line, path, lineNumber))
        {
            var root = document.RootElement;
            var pairId = RequireString(root, PairIdField, path, lineNumber);
            var variant = RequireString(root, VariantField, path, lineNumber);
            if (!Variants.Contains(variant))
            {
                throw new InvalidInputException(path, $"'{variant}' is not one of {string.Join(", ", Variants)}", lineNumber, VariantField);
            }
            var question = RequireString(root, QuestionField, path, lineNumber);
            return new ResponseRow(pairId, variant, question, lineNumber);
        }
    }

    static string RequireString(JsonElement root, string name, string path, int lineNumber)
    {
        if (!root.TryGetProperty(name, out var value))
        {
            throw new InvalidInputException(path, "is missing", lineNumber, name);
        }
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new InvalidInputException(path, $"expected a string, got {JsonlObject.Describe(value.ValueKind)}", lineNumber, name);
        }
        var text = value.GetString()!;
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new InvalidInputException(path, "is empty", lineNumber, name);
        }
        return name == QuestionField ? text : text.Trim();
    }
}
