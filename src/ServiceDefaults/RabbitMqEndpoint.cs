using Activations.Contracts;
using MassTransit;

namespace Activations.ServiceDefaults;

/// <summary>An amqp://user:pass@host:port/vhost address, with the password kept out of logs.</summary>
public sealed record RabbitMqEndpoint(string Host, int Port, string VirtualHost, string Username, string Password, bool UseTls)
{
    public const string EnvironmentVariable = "ACTIVATIONS_RABBITMQ";

    public static RabbitMqEndpoint Parse(string text, string source = "--rabbitmq")
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != "amqp" && uri.Scheme != "amqps") || uri.Host.Length == 0)
        {
            throw new InvalidInputException(source, "expected amqp://user:password@host:port/vhost");
        }
        var user = "guest";
        var password = "guest";
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            user = Uri.UnescapeDataString(parts[0]);
            password = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "";
        }
        var path = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        var tls = uri.Scheme == "amqps";
        return new RabbitMqEndpoint(uri.Host, uri.IsDefaultPort || uri.Port <= 0 ? (tls ? 5671 : 5672) : uri.Port, path.Length == 0 ? "/" : path, user, password, tls);
    }

    public void Configure(IRabbitMqBusFactoryConfigurator bus)
    {
        bus.Host(Host, (ushort)Port, VirtualHost, h =>
        {
            h.Username(Username);
            h.Password(Password);
            if (UseTls)
            {
                h.UseSsl(_ => { });
            }
        });
    }

    /// <summary>A RabbitMQ client connection factory for the same broker (for what MassTransit does not expose: queue depth and consumers).</summary>
    public RabbitMQ.Client.ConnectionFactory CreateConnectionFactory() => new()
    {
        HostName = Host,
        Port = Port,
        VirtualHost = VirtualHost,
        UserName = Username,
        Password = Password,
        Ssl = { Enabled = UseTls, ServerName = Host },
        ClientProvidedName = "activations-monitor",
    };

    /// <summary>The address with the password masked, for logs.</summary>
    public override string ToString() => $"{(UseTls ? "amqps" : "amqp")}://{Username}:***@{Host}:{Port}/{Uri.EscapeDataString(VirtualHost)}";
}
