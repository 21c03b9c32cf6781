using System.Security.Authentication;
using Npgsql;

namespace Activations.ServiceDefaults;

/// <summary>
/// Opens (and closes) one PostgreSQL connection before any work starts, retrying until the connect timeout, so a
/// coordinator fails early with one clear line: a refused certificate (SSL Mode=VerifyFull against a server another
/// CA signed) or refused credentials stop at once instead of being retried as if the server were restarting.
/// </summary>
public static class PostgresConnectCheck
{
    public static async Task EnsureReachableAsync(string connectionString, TimeSpan timeout, CancellationToken cancellation)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        builder.Timeout = (int)Math.Clamp(Math.Ceiling(timeout.TotalSeconds), 1, 15);
        builder.Pooling = false;
        var where = $"PostgreSQL at {ConnectionStrings.Mask(connectionString)}";
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Exception error;
            try
            {
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(cancellation);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
            {
                error = e;
            }
            var chain = Flatten(error).ToList();
            if (chain.OfType<AuthenticationException>().FirstOrDefault() is { } tls)
            {
                throw new ServiceUnreachableException($"{where} refused the connection: TLS: {tls.Message} (SSL Mode {builder.SslMode}, Root Certificate {builder.RootCertificate ?? "the system's"})", error);
            }
            if (chain.OfType<PostgresException>().FirstOrDefault(p => p.SqlState.StartsWith("28", StringComparison.Ordinal) || p.SqlState == "3D000") is { } refused)
            {
                throw new ServiceUnreachableException($"{where} refused the connection: {refused.MessageText}", error);
            }
            if (chain.FirstOrDefault(x => x is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException) is { } file)
            {
                throw new ServiceUnreachableException($"{where}: {file.Message}", error);
            }
            if (DateTime.UtcNow + TimeSpan.FromSeconds(1) > deadline)
            {
                throw new ServiceUnreachableException($"{where} not reachable within {timeout.TotalSeconds:0.#} s ({RabbitMqEndpoint.ConnectTimeoutEnvironmentVariable} or --connect-timeout): {chain.Last().Message}", error);
            }
            await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
        }
    }

    static IEnumerable<Exception> Flatten(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            yield return x;
        }
    }
}
