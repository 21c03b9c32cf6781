using System.Diagnostics;
using System.Diagnostics.Metrics;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Activations.ServiceDefaults;

/// <summary>
/// Our spans and metrics, and the process-wide OpenTelemetry pipeline. Exported over OTLP only when
/// OTEL_EXPORTER_OTLP_ENDPOINT is set; without it nothing listens, so spans cost nothing and nothing is sent.
/// </summary>
public static class ActivationsTelemetry
{
    public const string Name = "Activations";

    /// <summary>MassTransit's ActivitySource and Meter name.</summary>
    public const string MassTransitName = "MassTransit";

    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static readonly ActivitySource Source = new(Name);

    static readonly Meter Meter = new(Name);

    public static readonly Counter<long> QuestionsCaptured = Meter.CreateCounter<long>("activations.questions.captured", "{question}", "Questions captured by this worker (rate: questions per second)");

    public static readonly Counter<long> QuestionsFailed = Meter.CreateCounter<long>("activations.questions.failed", "{question}", "Questions that could not be captured");

    public static readonly UpDownCounter<long> QuestionsInFlight = Meter.CreateUpDownCounter<long>("activations.questions.in_flight", "{question}", "Questions in a batch being computed");

    public static readonly Histogram<double> ForwardDuration = Meter.CreateHistogram<double>("activations.forward.duration", "s", "Forward-pass latency");

    public static readonly Histogram<long> BatchSize = Meter.CreateHistogram<long>("activations.forward.batch_size", "{question}", "Questions per forward pass");

    public static readonly Counter<long> Tokens = Meter.CreateCounter<long>("activations.tokens", "{token}", "Tokens run through the model (rate: tokens per second)");

    public static readonly Counter<long> ResultsRecorded = Meter.CreateCounter<long>("activations.results.recorded", "{question}", "Results recorded by the coordinator");

    public static readonly Counter<long> ResultsRejected = Meter.CreateCounter<long>("activations.results.rejected", "{question}", "Results the coordinator refused to store (wrong width, non-finite values, unknown dtype, another job's question…)");

    /// <summary>Starts tracing and metrics for this process when an OTLP endpoint is configured; dispose at exit to flush.</summary>
    public static IDisposable Start(string serviceName)
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(OtlpEndpointVariable)))
        {
            return new Nothing();
        }
        var resource = CreateResource(serviceName);
        var tracing = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(resource)
            .AddSource(Name, MassTransitName)
            .AddNpgsql()
            .AddOtlpExporter()
            .Build();
        var metrics = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter(Name, MassTransitName)
            .AddOtlpExporter()
            .Build();
        return new Both(tracing, metrics);
    }

    /// <summary>
    /// This process's resource: service.name (OTEL_SERVICE_NAME, else <paramref name="serviceName"/>) and a
    /// service.instance.id (host/pid), then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME read last, so what the
    /// deployment sets (service.instance.id=worker-3 from compose, the pod name in Kubernetes) wins over the code's values.
    /// </summary>
    public static ResourceBuilder CreateResource(string serviceName)
        => ResourceBuilder.CreateDefault()
            .AddService(serviceName, serviceInstanceId: $"{Environment.MachineName}/{Environment.ProcessId}", autoGenerateServiceInstanceId: false)
            .AddEnvironmentVariableDetector();

    sealed class Nothing : IDisposable
    {
        public void Dispose()
        {
        }
    }

    sealed class Both(IDisposable first, IDisposable second) : IDisposable
    {
        public void Dispose()
        {
            first.Dispose();
            second.Dispose();
        }
    }
}
