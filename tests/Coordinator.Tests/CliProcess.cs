using System.Diagnostics;
using System.Text;

namespace Activations.Coordinator.Tests;

/// <summary>One of our command-line programs, run as a real process from the test output folder.</summary>
public sealed class CliProcess : IDisposable
{
    readonly Process process;
    readonly StringBuilder output = new();
    readonly StringBuilder error = new();

    CliProcess(Process process)
    {
        this.process = process;
    }

    public static string Coordinator => Path.Combine(AppContext.BaseDirectory, "Activations.Coordinator.dll");

    public static string Worker => Path.Combine(AppContext.BaseDirectory, "Activations.GpuWorker.dll");

    public int Id => process.Id;

    public string Output { get { lock (output) { return output.ToString(); } } }

    public string Error { get { lock (error) { return error.ToString(); } } }

    public bool HasExited => process.HasExited;

    public static CliProcess Start(string dll, IEnumerable<string> arguments, IDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["HF_HUB_OFFLINE"] = "1";
        start.Environment.Remove("ACTIVATIONS_RABBITMQ");
        start.Environment.Remove("ACTIVATIONS_POSTGRES");
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[key] = value;
        }
        var process = new Process { StartInfo = start };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (cli.output) { cli.output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (cli.error) { cli.error.AppendLine(e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    /// <summary>Runs to the end (killing it after <paramref name="timeout"/>) and returns the exit code.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(string dll, IEnumerable<string> arguments, TimeSpan? timeout = null, IDictionary<string, string?>? environment = null)
    {
        using var cli = Start(dll, arguments, environment);
        var exitCode = await cli.WaitAsync(timeout ?? TimeSpan.FromMinutes(3));
        return (exitCode, cli.Output, cli.Error);
    }

    public async Task<int> WaitAsync(TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"{process.StartInfo.ArgumentList[0]} did not finish in {timeout}.\nstdout:\n{Output}\nstderr:\n{Error}");
        }
        process.WaitForExit(); // flushes the output readers
        return process.ExitCode;
    }

    /// <summary>SIGKILL: the process gets no chance to finish or acknowledge anything.</summary>
    public void Kill()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    public void Dispose()
    {
        Kill();
        process.Dispose();
    }
}
