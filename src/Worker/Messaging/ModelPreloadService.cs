using Activations.Contracts;
using Activations.Worker.Capture;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Activations.Worker.Messaging;

/// <summary>
/// Loads the model as the worker starts, so readiness means "can compute now" and the first batch does not wait.
/// A job that needs a deeper layer or another dtype reloads it later.
/// </summary>
public sealed class ModelPreloadService(IEngineHost host, CaptureSpec spec, ILogger<ModelPreloadService> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() =>
    {
        try
        {
            host.Preload(spec);
        }
        catch (Exception e)
        {
            logger.LogError("Could not load the model: {Error}", e.Message);
            throw;
        }
    }, stoppingToken);
}
