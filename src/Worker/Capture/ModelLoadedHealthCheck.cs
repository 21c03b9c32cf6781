using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Activations.Worker.Capture;

/// <summary>Readiness: the worker can compute now, because its model is loaded on its device.</summary>
public sealed class ModelLoadedHealthCheck(IEngineHost host) : IHealthCheck
{
    public const string Name = "model";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(host.IsLoaded ? HealthCheckResult.Healthy("loaded") : HealthCheckResult.Unhealthy("the model is not loaded yet"));
}
