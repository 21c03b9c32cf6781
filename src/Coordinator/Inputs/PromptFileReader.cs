using System.Text.Json;
using Activations.Contracts;

namespace Activations.Coordinator.Inputs;

/// <summary>One prompt of a prompt file: its id, its text, its label (null without --label-field), and the line it starts on.</summary>
public sealed record PromptRow(string Id, string Text, string? Label, int Line);

/// <summary>Which fields of a prompt file hold the text, the id and (optionally) the label.</summary>
public sealed record PromptFields(string Text, string Id, string? Label);

/// <summary>
/// Reads a prompt file of any shape for `capture`: JSONL (one object per line) or CSV (a header, then RFC-4180
/// records), chosen by the extension (.jsonl/.json/.ndjson, .csv) or else by the first non-blank character. Rows
/// come back in file order. The same line limit and errors as the study's readers: every error names the file, the
/// line and the field; duplicate ids, a missing field, a non-string text and an empty file are refused.
/// </summary>
public sealed class PromptFileReader(int maxLineBytes = ResponsesJsonlReader.DefaultMaxLineBytes)
{
    public IReadOnlyList<PromptRow> Read(string path, PromptFields fields) => Read(path, fields, InputFile.OpenRead);

    internal IReadOnlyList<PromptRow> Read(string path, PromptFields fields, Func<string, Stream> openRead)
    {
        using var lines = new BoundedLineReader(InputFile.Open(path, openRead), path, maxLineBytes);
        var rows = IsCsv(path, openRead) ? ReadCsv(lines, path, fields) : ReadJsonl(lines, path, fields);
        if (rows.Count == 0)
        {
            throw new InvalidInputException(path, lines.WasEmpty ? "file is empty" : "file has no prompts", 1);
        }
        return rows;
    }

    /// <summary>By extension; otherwise a file whose first non-blank character is not '{' is CSV.</summary>
    static bool IsCsv(string path, Func<string, Stream> openRead)
    {
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".csv": return true;
            case ".jsonl" or ".json" or ".ndjson": return false;
        }
        using var stream = InputFile.Open(path, openRead);
        int b;
        while ((b = stream.ReadByte()) >= 0)
        {
            if (b is 0xEF or 0xBB or 0xBF || char.IsWhiteSpace((char)b))
            {
                continue; // a UTF-8 BOM or blank space
            }
            return b != '{';
        }
        return false;
    }

    static List<PromptRow> ReadJsonl(BoundedLineReader lines, string path, PromptFields fields)
    {
        var rows = new List<PromptRow>();
        var firstLineOf = new Dictionary<string, int>(StringComparer.Ordinal);
        while (lines.ReadLine() is { } line)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var number = lines.LineNumber;
            using (var document = JsonlObject.Parse(line, path, number))
            {
                var root = document.RootElement;
                var text = Field(root, fields.Text, path, number, allowScalars: false);
                var id = Field(root, fields.Id, path, number, allowScalars: true).Trim();
                var label = fields.Label is null ? null : Field(root, fields.Label, path, number, allowScalars: true).Trim();
                rows.Add(Checked(new PromptRow(id, text, label, number), fields, path, firstLineOf));
            }
        }
        return rows;
    }

    /// <summary>A string field; ids and labels may also be numbers or booleans (their JSON text: 7, true).</summary>
    static string Field(JsonElement root, string name, string path, int line, bool allowScalars)
    {
        if (!root.TryGetProperty(name, out var value))
        {
            throw new InvalidInputException(path, "is missing", line, name);
        }
        var text = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False when allowScalars => value.GetRawText(),
            _ => throw new InvalidInputException(path,
                $"expected a string{(allowScalars ? ", number or boolean" : "")}, got {JsonlObject.Describe(value.ValueKind)}", line, name),
        };
        return text;
    }

    static List<PromptRow> ReadCsv(BoundedLineReader lines, string path, PromptFields fields)
    {
        var header = ScoresCsvReader.ReadRecord(lines, path);
        if (header is null)
        {
            return [];
        }
        var columns = header.Value.Fields.Select(f => f.Trim()).ToList();
        int Column(string name) => columns.IndexOf(name) is var i and >= 0
            ? i
            : throw new InvalidInputException(path, $"missing column (header has: {string.Join(", ", columns)})", header.Value.Line, name);
        var textIndex = Column(fields.Text);
        var idIndex = Column(fields.Id);
        var labelIndex = fields.Label is null ? -1 : Column(fields.Label);

        var rows = new List<PromptRow>();
        var firstLineOf = new Dictionary<string, int>(StringComparer.Ordinal);
        while (ScoresCsvReader.ReadRecord(lines, path) is { } record)
        {
            string Cell(int index, string name) => index < record.Fields.Count
                ? record.Fields[index]
                : throw new InvalidInputException(path, $"record has {record.Fields.Count} fields but the header has {columns.Count}", record.Line, name);
            var text = Cell(textIndex, fields.Text);
            var id = Cell(idIndex, fields.Id).Trim();
            var label = fields.Label is null ? null : Cell(labelIndex, fields.Label).Trim();
            rows.Add(Checked(new PromptRow(id, text, label, record.Line), fields, path, firstLineOf));
        }
        return rows;
    }

    static PromptRow Checked(PromptRow row, PromptFields fields, string path, Dictionary<string, int> firstLineOf)
    {
        if (row.Id.Length == 0)
        {
            throw new InvalidInputException(path, "is empty", row.Line, fields.Id);
        }
        if (string.IsNullOrWhiteSpace(row.Text))
        {
            throw new InvalidInputException(path, "is empty", row.Line, fields.Text);
        }
        if (row.Label is { Length: 0 })
        {
            throw new InvalidInputException(path, "is empty", row.Line, fields.Label);
        }
        if (!firstLineOf.TryAdd(row.Id, row.Line))
        {
            throw new InvalidInputException(path,
                $"duplicate id '{row.Id}' (first on line {firstLineOf[row.Id]}, again on line {row.Line})", row.Line, fields.Id);
        }
        return row;
    }
}
