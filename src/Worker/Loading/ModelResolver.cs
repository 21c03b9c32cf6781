using Activations.Worker.Loading.Hub;
using Microsoft.Extensions.Logging;

namespace Activations.Worker.Loading;

/// <summary>What --model and --revision name: a local folder, or a Hub id at a revision.</summary>
public sealed record ModelRequest(string Model, string? Revision);

/// <summary>A model folder, opened and checked, and its fingerprint.</summary>
public sealed record ResolvedModel(ModelFolder Folder, string Fingerprint);

/// <summary>
/// Resolves the process's one model once (downloading it through the Hugging Face cache when --model is a Hub id)
/// and keeps the answer: the coordinator's job and its local worker, or the worker's consumer and its health check,
/// all get the same folder and fingerprint.
/// </summary>
public sealed class ModelResolver(ModelRequest request, HubOptions hub, ILogger<ModelResolver> logger) : IDisposable
{
    readonly SemaphoreSlim gate = new(1, 1);
    ResolvedModel? resolved;

    /// <summary>The model, once <see cref="ResolveAsync"/> has run; what a DI factory reads (factories cannot await).</summary>
    public ResolvedModel Resolved => Volatile.Read(ref resolved)
        ?? throw new InvalidOperationException("the model is used before it was resolved: await ResolveAsync before building the bus");

    public async Task<ResolvedModel> ResolveAsync(CancellationToken cancellation)
    {
        if (Volatile.Read(ref resolved) is { } done)
        {
            return done;
        }
        await gate.WaitAsync(cancellation);
        try
        {
            if (resolved is null)
            {
                using var locator = new HubModelLocator(hub, logger);
                var folder = ModelFolder.Open(await locator.ResolveAsync(request.Model, request.Revision, cancellation));
                Volatile.Write(ref resolved, new ResolvedModel(folder, ModelFingerprint.Compute(folder)));
            }
            return resolved!;
        }
        finally
        {
            gate.Release();
        }
    }

    public void Dispose() => gate.Dispose();
}
