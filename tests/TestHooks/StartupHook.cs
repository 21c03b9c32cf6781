using System.Diagnostics;
using Activations.TestHooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

/// <summary>
/// The .NET startup hook (DOTNET_STARTUP_HOOKS=…/Activations.TestHooks.dll): runs before the program's Main and
/// watches for the host being built (the "HostBuilding" event every Microsoft.Extensions.Hosting builder writes),
/// then lets <see cref="PoisonedEngineHost"/>, <see cref="DyingEngineHost"/> or <see cref="SlowEngineHost"/> decorate the engine through DI. The program's own code is unchanged.
/// </summary>
internal static class StartupHook
{
    public static void Initialize()
    {
        if (Environment.GetEnvironmentVariable(PoisonedEngineHost.TextVariable) is { Length: > 0 } poison)
        {
            DiagnosticListener.AllListeners.Subscribe(new HostBuildingObserver(services => PoisonedEngineHost.Decorate(services, poison)));
        }
        if (Environment.GetEnvironmentVariable(DyingEngineHost.TextVariable) is { Length: > 0 } dieOn)
        {
            DiagnosticListener.AllListeners.Subscribe(new HostBuildingObserver(services => DyingEngineHost.Decorate(services, dieOn)));
        }
        if (Environment.GetEnvironmentVariable(SlowEngineHost.DelayVariable) is { Length: > 0 } delay)
        {
            DiagnosticListener.AllListeners.Subscribe(new HostBuildingObserver(services => SlowEngineHost.Decorate(services, delay)));
        }
    }
}

namespace Activations.TestHooks
{
    /// <summary>Calls <paramref name="configure"/> on the services of every host the process builds.</summary>
    sealed class HostBuildingObserver(Action<IServiceCollection> configure) : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
    {
        public void OnNext(DiagnosticListener listener)
        {
            if (listener.Name == "Microsoft.Extensions.Hosting")
            {
                listener.Subscribe(this);
            }
        }

        public void OnNext(KeyValuePair<string, object?> value)
        {
            if (value.Key == "HostBuilding" && value.Value is IHostBuilder builder)
            {
                builder.ConfigureServices((_, services) => configure(services));
            }
        }

        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }
    }
}
