using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Npgsql;

namespace Activations.Integration.Tests;

/// <summary>
/// The private RabbitMQ and PostgreSQL servers that ./test.sh (tests/servers/start-servers.sh) starts. Each test
/// gets its own RabbitMQ virtual host and its own database, so tests running side by side never share a queue.
/// </summary>
public static class TestServers
{
    public static string RabbitMq => Required("ACTIVATIONS_TEST_RABBITMQ");

    public static string Postgres => Required("ACTIVATIONS_TEST_POSTGRES");

    static string Management => Required("ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT");

    static string Required(string name) => Environment.GetEnvironmentVariable(name)
        ?? throw new InvalidOperationException($"{name} is not set: run the tests with ./test.sh, which starts the private RabbitMQ and PostgreSQL servers");

    static HttpClient ManagementClient()
    {
        var client = new HttpClient { BaseAddress = new Uri(Management), Timeout = TimeSpan.FromSeconds(30) };
        var user = Environment.GetEnvironmentVariable("ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT_USER") ?? "activations";
        var password = Environment.GetEnvironmentVariable("ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT_PASSWORD") ?? "activations";
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return client;
    }

    /// <summary>A fresh virtual host and database; deleted on dispose.</summary>
    public static async Task<Isolation> IsolateAsync()
    {
        var name = $"t{Guid.NewGuid():N}"[..20];
        using (var client = ManagementClient())
        {
            (await client.PutAsync($"api/vhosts/{name}", null)).EnsureSuccessStatusCode();
            var user = new Uri(RabbitMq).UserInfo.Split(':')[0];
            (await client.PutAsJsonAsync($"api/permissions/{name}/{user}", new { configure = ".*", write = ".*", read = ".*" })).EnsureSuccessStatusCode();
        }
        await using (var connection = new NpgsqlConnection(Postgres))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }
        var rabbit = new UriBuilder(RabbitMq) { Path = "/" + name }.Uri.ToString();
        var postgres = new NpgsqlConnectionStringBuilder(Postgres) { Database = name }.ConnectionString;
        return new Isolation(name, rabbit, postgres);
    }

    public sealed record Isolation(string Name, string RabbitMq, string Postgres) : IAsyncDisposable
    {
        /// <summary>Consumers on a queue of this virtual host, 0 when it does not exist yet.</summary>
        public async Task<int> ConsumersAsync(string queue)
        {
            using var client = ManagementClient();
            var response = await client.GetAsync($"api/queues/{Name}/{queue}");
            if (!response.IsSuccessStatusCode)
            {
                return 0;
            }
            var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return json.RootElement.TryGetProperty("consumers", out var consumers) ? consumers.GetInt32() : 0;
        }

        public async Task<List<T>> QueryAsync<T>(string sql)
        {
            await using var connection = new NpgsqlConnection(Postgres);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<T>();
            while (await reader.ReadAsync())
            {
                rows.Add(reader.GetFieldValue<T>(0));
            }
            return rows;
        }

        public async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            try
            {
                using var client = ManagementClient();
                await client.DeleteAsync($"api/vhosts/{Name}");
                await using var connection = new NpgsqlConnection(TestServers.Postgres);
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", connection);
                await command.ExecuteNonQueryAsync();
            }
            catch (Exception)
            {
                // Cleanup only: the servers are private and thrown away after the run.
            }
        }
    }
}
