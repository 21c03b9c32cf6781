using System.Net.Security;
using Activations.Contracts;
using MassTransit;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Activations.ServiceDefaults;

/// <summary>
/// An amqp[s]://user:pass@host:port/vhost address with how to trust the broker (amqps: the system's roots, or a CA
/// file; the chain and the host name are always verified) and how long to wait for it. The password never prints.
/// </summary>
public sealed record RabbitMqEndpoint(string Host, int Port, string VirtualHost, string Username, string Password, bool UseTls)
{
    public const string EnvironmentVariable = "ACTIVATIONS_RABBITMQ";

    /// <summary>A PEM file of the CA certificates that may sign the broker's certificate (amqps only).</summary>
    public const string CaFileEnvironmentVariable = "ACTIVATIONS_RABBITMQ_CA_FILE";

    /// <summary>Seconds to wait for the broker (and the database) before exiting with an error.</summary>
    public const string ConnectTimeoutEnvironmentVariable = "ACTIVATIONS_CONNECT_TIMEOUT";

    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Who may sign the broker's certificate.</summary>
    public TlsTrust Trust { get; init; } = TlsTrust.System;

    /// <summary>How long to wait for the broker before giving up with <see cref="ServiceUnreachableException"/>.</summary>
    public TimeSpan ConnectTimeout { get; init; } = DefaultConnectTimeout;

    public static RabbitMqEndpoint Parse(string text, string source = "--rabbitmq")
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != "amqp" && uri.Scheme != "amqps") || uri.Host.Length == 0)
        {
            throw new InvalidInputException(source, "expected amqp://user:password@host:port/vhost (or amqps://)");
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

    /// <summary>
    /// The broker a host was given: the address (option, else <see cref="EnvironmentVariable"/>), the CA file (option,
    /// else <see cref="CaFileEnvironmentVariable"/>) and the connect timeout (option, else
    /// <see cref="ConnectTimeoutEnvironmentVariable"/>), each checked here once. Null when no address is given.
    /// </summary>
    public static RabbitMqEndpoint? Resolve(string? address, string? caFile, string? connectTimeout)
    {
        var addressSource = address is null ? EnvironmentVariable : "--rabbitmq";
        address ??= Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(address))
        {
            return null;
        }
        var endpoint = Parse(address, addressSource);
        var caSource = caFile is null ? CaFileEnvironmentVariable : "--rabbitmq-ca-file";
        caFile ??= Environment.GetEnvironmentVariable(CaFileEnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(caFile))
        {
            if (!endpoint.UseTls)
            {
                throw new InvalidInputException(caSource, "a CA file needs an amqps:// broker address (TLS)");
            }
            endpoint = endpoint with { Trust = TlsTrust.FromCaFile(caFile, caSource) };
        }
        return endpoint with { ConnectTimeout = ParseConnectTimeout(connectTimeout) };
    }

    /// <summary>The connect timeout from the option's text, else <see cref="ConnectTimeoutEnvironmentVariable"/>, else the default.</summary>
    public static TimeSpan ParseConnectTimeout(string? text)
    {
        var source = text is null ? ConnectTimeoutEnvironmentVariable : "--connect-timeout";
        text ??= Environment.GetEnvironmentVariable(ConnectTimeoutEnvironmentVariable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return DefaultConnectTimeout;
        }
        if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) || !(seconds > 0) || seconds > 86400)
        {
            throw new InvalidInputException(source, $"'{text}' is not a number of seconds (more than 0, at most 86400)");
        }
        return TimeSpan.FromSeconds(seconds);
    }

    public void Configure(IRabbitMqBusFactoryConfigurator bus)
    {
        bus.Host(Host, (ushort)Port, VirtualHost, h =>
        {
            h.Username(Username);
            h.Password(Password);
            h.RequestedConnectionTimeout(ConnectTimeout);
            if (UseTls)
            {
                h.UseSsl(s =>
                {
                    s.ServerName = Host;
                    s.EnforcePolicyErrors(SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable);
                    s.CertificateValidationCallback = Trust.Validate;
                });
            }
        });
    }

    /// <summary>
    /// A RabbitMQ client connection factory for the same broker, with the same trust as the bus (the chain against the
    /// CA file or the system's roots, and the host name): for what MassTransit does not expose (queue depth and
    /// consumers) and for the connect check.
    /// </summary>
    public ConnectionFactory CreateConnectionFactory(string clientName = "activations-monitor") => new()
    {
        HostName = Host,
        Port = Port,
        VirtualHost = VirtualHost,
        UserName = Username,
        Password = Password,
        ClientProvidedName = clientName,
        Ssl = new SslOption
        {
            Enabled = UseTls,
            ServerName = Host,
            AcceptablePolicyErrors = SslPolicyErrors.None,
            CertificateValidationCallback = Trust.Validate,
        },
    };

    /// <summary>
    /// Opens (and closes) one connection, retrying until <see cref="ConnectTimeout"/>, so a host fails early with one
    /// clear line instead of waiting for the broker forever: a refused certificate or refused credentials stop at once.
    /// </summary>
    public async Task EnsureReachableAsync(CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + ConnectTimeout;
        var factory = CreateConnectionFactory("activations-connect-check");
        factory.RequestedConnectionTimeout = ConnectTimeout < TimeSpan.FromSeconds(10) ? ConnectTimeout : TimeSpan.FromSeconds(10);
        factory.AutomaticRecoveryEnabled = false;
        while (true)
        {
            string reason;
            try
            {
                await using var connection = await factory.CreateConnectionAsync(cancellation);
                await connection.CloseAsync(cancellation);
                return;
            }
            catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or IOException or TimeoutException or System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException)
            {
                reason = Reason(e);
                if (IsPermanent(e))
                {
                    throw new ServiceUnreachableException($"RabbitMQ at {this} refused the connection: {reason}", e);
                }
            }
            if (DateTime.UtcNow + TimeSpan.FromSeconds(1) > deadline)
            {
                throw new ServiceUnreachableException($"RabbitMQ at {this} not reachable within {ConnectTimeout.TotalSeconds:0.#} s ({ConnectTimeoutEnvironmentVariable} or --connect-timeout): {reason}");
            }
            await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
        }
    }

    bool IsPermanent(Exception e) => Flatten(e).Any(x => x is System.Security.Authentication.AuthenticationException or AuthenticationFailureException)
        || Trust.LastFailure is not null;

    string Reason(Exception e)
    {
        if (UseTls && Trust.LastFailure is { } tls)
        {
            return $"TLS: {tls}";
        }
        var innermost = Flatten(e).Last();
        return innermost is AuthenticationFailureException ? $"the user '{Username}' was refused ({innermost.Message})" : innermost.Message;
    }

    static IEnumerable<Exception> Flatten(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            yield return x;
        }
    }

    /// <summary>The address with the password masked, for logs.</summary>
    public override string ToString() => $"{(UseTls ? "amqps" : "amqp")}://{Username}:{ConnectionStrings.Masked}@{Host}:{Port}/{Uri.EscapeDataString(VirtualHost)}";
}
