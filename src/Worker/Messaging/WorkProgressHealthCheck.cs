using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Activations.Worker.Messaging;

/// <summary>
/// Liveness on progress (tagged live): unhealthy when the worker holds questions and no batch has
/// progressed for <see cref="WorkerOptions.StuckAfter"/>, so a hung forward pass gets the process restarted.
/// </summary>
public sealed class WorkProgressHealthCheck(WorkerOptions options) : IHealthCheck
{
    public const string Name = "progress";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (live, detail) = options.Progress.Check(options.StuckAfter);
        return Task.FromResult(live ? HealthCheckResult.Healthy(detail) : HealthCheckResult.Unhealthy(detail));
    }
}
