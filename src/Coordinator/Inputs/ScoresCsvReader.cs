using System.Text;
using Activations.Contracts;

namespace Activations.Coordinator.Inputs;

/// <summary>One labelled pair from the scores CSV; <see cref="Line"/> is where its record starts (1-based).</summary>
public sealed record ScoreRow(string PairId, bool IsFaithful, int Line);

/// <summary>
/// Reads faithfulness_scores.csv: a header with at least <c>pair_id</c> and <c>is_faithful</c>, then one record per
/// pair. RFC-4180 quoting (a quoted field may hold commas, doubled quotes and line breaks); other columns are ignored.
/// </summary>
public static class ScoresCsvReader
{
    public const string PairIdColumn = "pair_id";
    public const string LabelColumn = "is_faithful";

    /// <summary>A CSV line longer than this is refused; a real scores line is under a kilobyte.</summary>
    public const int DefaultMaxLineBytes = 1 << 20;

    public static IReadOnlyList<ScoreRow> Read(string path, int maxLineBytes = DefaultMaxLineBytes) =>
        Read(path, InputFile.OpenRead, maxLineBytes);

    internal static IReadOnlyList<ScoreRow> Read(string path, Func<string, Stream> openRead, int maxLineBytes = DefaultMaxLineBytes)
    {
        using var lines = new BoundedLineReader(InputFile.Open(path, openRead), path, maxLineBytes);

        var header = ReadRecord(lines, path);
        if (header is null)
        {
            throw new InvalidInputException(path, lines.WasEmpty ? "file is empty" : "file has no header line", 1);
        }
        var headerLine = header.Value.Line;
        var columns = header.Value.Fields.Select(f => f.Trim()).ToList();
        var pairIdIndex = RequireColumn(columns, PairIdColumn, path, headerLine);
        var labelIndex = RequireColumn(columns, LabelColumn, path, headerLine);

        var rows = new List<ScoreRow>();
        var firstLineOf = new Dictionary<string, int>(StringComparer.Ordinal);
        while (ReadRecord(lines, path) is { } record)
        {
            var fields = record.Fields;
            var needed = Math.Max(pairIdIndex, labelIndex) + 1;
            if (fields.Count < needed)
            {
                var missing = fields.Count <= pairIdIndex ? PairIdColumn : LabelColumn;
                throw new InvalidInputException(path,
                    $"record has {fields.Count} fields but the header has {columns.Count}", record.Line, missing);
            }

            var pairId = fields[pairIdIndex].Trim();
            if (pairId.Length == 0)
            {
                throw new InvalidInputException(path, "is empty", record.Line, PairIdColumn);
            }
            if (firstLineOf.TryGetValue(pairId, out var firstLine))
            {
                throw new InvalidInputException(path,
                    $"duplicate pair_id '{pairId}' (first on line {firstLine}, again on line {record.Line})", record.Line, PairIdColumn);
            }
            firstLineOf[pairId] = record.Line;

            if (!TryParseLabel(fields[labelIndex], out var isFaithful))
            {
                throw new InvalidInputException(path,
                    $"cannot parse '{fields[labelIndex]}' as a label (expected True/False, true/false or 1/0)", record.Line, LabelColumn);
            }
            rows.Add(new ScoreRow(pairId, isFaithful, record.Line));
        }
        return rows;
    }

    /// <summary>Accepts what pandas writes for a bool column (True/False) and the usual spellings.</summary>
    internal static bool TryParseLabel(string text, out bool value)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "true": case "1": value = true; return true;
            case "false": case "0": value = false; return true;
            default: value = false; return false;
        }
    }

    static int RequireColumn(List<string> columns, string name, string path, int headerLine)
    {
        var index = columns.IndexOf(name);
        if (index < 0)
        {
            throw new InvalidInputException(path, $"missing column (header has: {string.Join(", ", columns)})", headerLine, name);
        }
        return index;
    }

    internal readonly record struct CsvRecord(List<string> Fields, int Line);

    /// <summary>The next non-blank record, which may span lines inside quotes; null at the end of the file.</summary>
    internal static CsvRecord? ReadRecord(BoundedLineReader lines, string path)
    {
        string? line;
        do
        {
            line = lines.ReadLine();
            if (line is null)
            {
                return null;
            }
        } while (line.Length == 0); // pandas skips blank lines too

        var startLine = lines.LineNumber;
        var fields = new List<string>();
        var field = new StringBuilder();
        var inQuotes = false;
        var fieldWasQuoted = false;
        var i = 0;
        while (true)
        {
            if (i == line.Length)
            {
                if (!inQuotes)
                {
                    fields.Add(field.ToString());
                    return new CsvRecord(fields, startLine);
                }
                // A line break inside quotes belongs to the field.
                line = lines.ReadLine()
                    ?? throw new InvalidInputException(path, "quoted field is not closed before the end of the file", startLine);
                field.Append('\n');
                i = 0;
                continue;
            }

            var c = line[i++];
            if (inQuotes)
            {
                if (c != '"')
                {
                    field.Append(c);
                }
                else if (i < line.Length && line[i] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else
                {
                    inQuotes = false;
                }
            }
            else if (c == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
                fieldWasQuoted = false;
            }
            else if (c == '"' && field.Length == 0 && !fieldWasQuoted)
            {
                inQuotes = true;
                fieldWasQuoted = true;
            }
            else if (c == '"' || fieldWasQuoted)
            {
                throw new InvalidInputException(path,
                    $"malformed quoting in field {fields.Count + 1} (RFC 4180: a quote may only open a field or be doubled inside one)",
                    lines.LineNumber);
            }
            else
            {
                field.Append(c);
            }
        }
    }
}
