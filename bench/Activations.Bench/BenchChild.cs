using System.Diagnostics;
using System.Text.Json;

namespace Activations.Bench;

/// <summary>
/// One benchmark case in a child process of a benchmark build (so each case's peak memory is read clean): the child
/// prints each result as one JSON line behind <see cref="ResultPrefix"/>; every other line it prints is passed through.
/// </summary>
static class BenchChild
{
    const string ResultPrefix = "RESULT ";

    /// <summary>In the child: hands one result to the parent.</summary>
    public static void Report<T>(T result) => Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(result));

    /// <summary>Runs this benchmark (or the build <paramref name="benchDll"/>) with <paramref name="arguments"/> and returns the results it reported.</summary>
    /// <param name="environment">variables set for the child only</param>
    public static List<T> Run<T>(IEnumerable<string> arguments, string? benchDll = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (program, dll) = benchDll is not null ? ("dotnet", benchDll)
            // The apphost runs itself; under `dotnet run` the process is dotnet and the benchmark is its first argument.
            : Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? ("dotnet", typeof(BenchChild).Assembly.Location)
            : (Environment.ProcessPath!, null);
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true };
        if (dll is not null)
        {
            start.ArgumentList.Add(dll);
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        using var child = Process.Start(start)!;
        var results = new List<T>();
        while (child.StandardOutput.ReadLine() is { } line)
        {
            if (line.StartsWith(ResultPrefix, StringComparison.Ordinal))
            {
                results.Add(JsonSerializer.Deserialize<T>(line[ResultPrefix.Length..])!);
            }
            else
            {
                Console.WriteLine(line);
            }
        }
        child.WaitForExit();
        if (child.ExitCode != 0 || results.Count == 0)
        {
            throw new InvalidOperationException($"benchmark case {string.Join(" ", start.ArgumentList)} exited with {child.ExitCode} and {results.Count} results");
        }
        return results;
    }
}
