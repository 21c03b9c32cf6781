namespace Activations.GpuWorker.Messaging;

public sealed record WorkerOptions
{
    /// <summary>Shown in results and logs, so a row can be traced to the worker that computed it.</summary>
    public string Name { get; init; } = $"{Environment.MachineName}/{Environment.ProcessId}";

    /// <summary>Most questions per forward pass, and per consumed batch, unless a job asks for fewer.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>How long a partial batch waits for more questions before it runs.</summary>
    public TimeSpan BatchTimeLimit { get; init; } = TimeSpan.FromMilliseconds(50);
}
