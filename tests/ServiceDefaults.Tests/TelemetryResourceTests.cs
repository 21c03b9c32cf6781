using Activations.ServiceDefaults;

namespace Activations.ServiceDefaults.Tests;

/// <summary>The deployment's OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME win over what the code sets.</summary>
public class TelemetryResourceTests
{
    static Dictionary<string, object> Attributes(string serviceName) => ActivationsTelemetry.CreateResource(serviceName).Build().Attributes.ToDictionary(a => a.Key, a => a.Value);

    [Fact]
    public void Environment_attributes_win_and_the_code_fills_in_the_rest()
    {
        var saved = (Environment.GetEnvironmentVariable("OTEL_RESOURCE_ATTRIBUTES"), Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME"));
        try
        {
            Environment.SetEnvironmentVariable("OTEL_RESOURCE_ATTRIBUTES", null);
            Environment.SetEnvironmentVariable("OTEL_SERVICE_NAME", null);
            var defaults = Attributes("activations-worker");
            Assert.Equal("activations-worker", defaults["service.name"]);
            Assert.Equal($"{Environment.MachineName}/{Environment.ProcessId}", defaults["service.instance.id"]);

            Environment.SetEnvironmentVariable("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=worker-3,deployment.environment=lab");
            Environment.SetEnvironmentVariable("OTEL_SERVICE_NAME", "activations-gpu-worker");
            var deployed = Attributes("activations-worker");
            Assert.Equal("worker-3", deployed["service.instance.id"]);
            Assert.Equal("lab", deployed["deployment.environment"]);
            Assert.Equal("activations-gpu-worker", deployed["service.name"]);
        }
        finally
        {
            Environment.SetEnvironmentVariable("OTEL_RESOURCE_ATTRIBUTES", saved.Item1);
            Environment.SetEnvironmentVariable("OTEL_SERVICE_NAME", saved.Item2);
        }
    }
}
