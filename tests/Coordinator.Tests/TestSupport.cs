using System.Text;
using Activations.Contracts;
using Microsoft.Extensions.Logging;

namespace Activations.Coordinator.Tests;

/// <summary>A fresh folder per test, deleted afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "coord-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name, string text) => Bytes(name, Encoding.UTF8.GetBytes(text));

    public string Bytes(string name, byte[] bytes)
    {
        var path = System.IO.Path.Combine(Path, name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    public string[] Entries() => Directory.GetFileSystemEntries(Path).Select(System.IO.Path.GetFileName).ToArray()!;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Keeps each log line as rendered, so tests can compare with the seed's output.</summary>
public sealed class ListLogger<T> : ILogger<T>
{
    public List<(LogLevel Level, string Message)> Entries { get; } = [];

    public IEnumerable<string> Messages(LogLevel level) => Entries.Where(e => e.Level == level).Select(e => e.Message);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Entries)
        {
            Entries.Add((logLevel, formatter(state, exception)));
        }
    }
}

public static class Samples
{
    public static string Data(string name) => Path.Combine(AppContext.BaseDirectory, "samples", "data", name);
    public static string ScoresCsv => Data("faithfulness_scores.csv");
    public static string ResponsesJsonl => Data("model_1.5B_responses.jsonl");

    /// <summary>Asserts the error names the file, the line and the field, in the message users see.</summary>
    public static InvalidInputException AssertNames(InvalidInputException e, string file, int? line, string? field)
    {
        Assert.Equal(file, e.File);
        Assert.Equal(line, e.Line);
        Assert.Equal(field, e.Field);
        Assert.Contains(file, e.Message);
        if (line is { } l) Assert.Contains($":{l}", e.Message);
        if (field is not null) Assert.Contains($"'{field}'", e.Message);
        return e;
    }
}
