using Activations.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Activations.ServiceDefaults;

/// <summary>What both command-line hosts share: console logging, and bad input as one line and a non-zero exit.</summary>
public static class ConsoleHost
{
    /// <summary>Exit code for input the user must fix.</summary>
    public const int BadInputExitCode = 2;

    /// <summary>Exit code for a broker or database that could not be reached or refused us (EX_UNAVAILABLE).</summary>
    public const int UnreachableExitCode = 69;

    public static void ConfigureLogging(ILoggingBuilder logging, LogLevel level = LogLevel.Information)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        });
        logging.SetMinimumLevel(level);
        logging.AddFilter("MassTransit", LogLevel.Warning);
        logging.AddFilter("Microsoft", LogLevel.Warning);
        // A failing health check is logged once, in one line, by HealthEndpoint; not with a stack trace per probe.
        logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None);
    }

    /// <summary>Runs <paramref name="body"/>; bad input prints one line ("error: …") and exits with <see cref="BadInputExitCode"/>.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (InvalidInputException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return BadInputExitCode;
        }
        catch (ServiceUnreachableException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return UnreachableExitCode;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("ACTIVATIONS_DEBUG") != "1")
        {
            // A bug or an environment failure: one line; ACTIVATIONS_DEBUG=1 shows the stack trace.
            Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message} (set ACTIVATIONS_DEBUG=1 for details)");
            return 1;
        }
    }
}
