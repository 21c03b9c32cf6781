using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Activations.Contracts.Messages;
using Activations.Coordinator.Tests;
using Activations.ServiceDefaults;
using Activations.Worker.Loading;
using Npgsql;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Activations.Integration.Tests;

/// <summary>
/// TLS, per-role credentials and "no connection outside the given addresses", against the private servers: RabbitMQ's
/// amqps listener and PostgreSQL's TLS use a private CA that tests/servers/common.sh (tls_make) makes with openssl.
/// </summary>
[Collection(ServersCollection.Name)]
public class SecurityTests
{
    static string Env(string name) => Environment.GetEnvironmentVariable(name)
        ?? throw new InvalidOperationException($"{name} is not set: run the tests with ./test.sh (tests/servers/start-servers.sh)");

    static string TlsCa => Env("ACTIVATIONS_TEST_TLS_CA");

    static string RabbitMqTls(TestServers.Isolation servers) => new UriBuilder(Env("ACTIVATIONS_TEST_RABBITMQ_TLS")) { Path = "/" + servers.Name }.Uri.ToString();

    static string PostgresTls(TestServers.Isolation servers) => new NpgsqlConnectionStringBuilder(Env("ACTIVATIONS_TEST_POSTGRES_TLS")) { Database = servers.Name }.ConnectionString;

    static string[] RunArguments(string model, string output) =>
        ["run", "--scores", EngineReference.SampleData("faithfulness_scores.csv"), "--responses", EngineReference.SampleData("model_1.5B_responses.jsonl"),
         "--model", model, "--out", output, "--batch-size", "8"];

    static string[] WorkerArguments(string rabbitmq, string model) => ["--rabbitmq", rabbitmq, "--model", model, "--device", "cpu", "--batch-size", "8", "--name", "tls-worker"];

    [Fact]
    public async Task A_job_runs_over_amqps_and_VerifyFull_with_the_private_ca()
    {
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var model = EngineReference.TinyModel;
        var queue = QueueNames.CaptureQuestions(ModelFingerprint.Compute(ModelFolder.Open(model)));
        // The CA file through its environment variable for the worker, through the option for the coordinator.
        using var worker = CliProcess.Start(CliProcess.Worker, WorkerArguments(RabbitMqTls(servers), model), new Dictionary<string, string?> { [RabbitMqEndpoint.CaFileEnvironmentVariable] = TlsCa });
        await DistributedJobTests.WaitForConsumersAsync(servers, queue, 1, worker);
        Assert.All(await ConnectionsAsync(servers.Name), c => Assert.True(c.Ssl, $"connection {c.Name} is not TLS"));

        var output = Path.Combine(temp.Path, "out");
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator,
            [.. RunArguments(model, output), "--rabbitmq", RabbitMqTls(servers), "--rabbitmq-ca-file", TlsCa, "--postgres", PostgresTls(servers)], TimeSpan.FromMinutes(4));
        Assert.True(exitCode == 0, stdout + stderr);
        Assert.DoesNotContain("activations:activations@", stdout + stderr);
        Assert.True(File.Exists(Path.Combine(output, "manifest.json")));
        Assert.Equal([45L], await servers.QueryAsync<long>("SELECT count(*) FROM question_results"));
    }

    [Fact]
    public async Task A_certificate_from_another_ca_or_for_another_host_is_refused_within_the_connect_timeout()
    {
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var model = EngineReference.TinyModel;
        var otherCa = MakeCa(temp.Path, "other-ca");

        // The worker, trusting another CA: one line naming the broker (masked) and the reason, exit 69, at once.
        var clock = Stopwatch.StartNew();
        var (code, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Worker, [.. WorkerArguments(RabbitMqTls(servers), model), "--rabbitmq-ca-file", otherCa, "--connect-timeout", "20"], TimeSpan.FromSeconds(60));
        Assert.True(code == ConsoleHost.UnreachableExitCode, stdout + stderr);
        Assert.Contains("does not chain to a CA in", stderr);
        Assert.Contains("amqps://activations:***@localhost", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");

        // The system's roots do not hold the private CA either.
        (code, _, stderr) = await CliProcess.RunAsync(CliProcess.Worker, WorkerArguments(RabbitMqTls(servers), model), TimeSpan.FromSeconds(60));
        Assert.Equal(ConsoleHost.UnreachableExitCode, code);
        Assert.Contains("is not trusted by this system", stderr);

        // The right CA, but dialled by an address the certificate does not name (it names localhost only).
        var byIp = new UriBuilder(RabbitMqTls(servers)) { Host = "127.0.0.1" }.Uri.ToString();
        (code, _, stderr) = await CliProcess.RunAsync(CliProcess.Worker, [.. WorkerArguments(byIp, model), "--rabbitmq-ca-file", TlsCa], TimeSpan.FromSeconds(60));
        Assert.Equal(ConsoleHost.UnreachableExitCode, code);
        Assert.Contains("does not name the host", stderr);

        // The coordinator: PostgreSQL with VerifyFull against the other CA, then RabbitMQ against it.
        var output = Path.Combine(temp.Path, "out");
        var wrongPostgres = new NpgsqlConnectionStringBuilder(PostgresTls(servers)) { RootCertificate = otherCa }.ConnectionString;
        clock.Restart();
        (code, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, [.. RunArguments(model, output), "--rabbitmq", RabbitMqTls(servers), "--rabbitmq-ca-file", TlsCa, "--postgres", wrongPostgres, "--connect-timeout", "20"], TimeSpan.FromSeconds(60));
        Assert.True(code == ConsoleHost.UnreachableExitCode, stdout + stderr);
        Assert.Contains("PostgreSQL at", stderr);
        Assert.Contains("TLS:", stderr);
        Assert.Contains("password=***", stderr, StringComparison.OrdinalIgnoreCase);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        (code, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, [.. RunArguments(model, output), "--rabbitmq", RabbitMqTls(servers), "--rabbitmq-ca-file", otherCa, "--postgres", PostgresTls(servers)], TimeSpan.FromSeconds(60));
        Assert.True(code == ConsoleHost.UnreachableExitCode, stdout + stderr);
        Assert.Contains("does not chain to a CA in", stderr);
        Assert.False(File.Exists(Path.Combine(output, "manifest.json")));

        // Nobody listening: both give up after the configured time, not forever.
        var closed = FreePort();
        clock.Restart();
        (code, _, stderr) = await CliProcess.RunAsync(CliProcess.Worker, WorkerArguments($"amqp://u:p@127.0.0.1:{closed}/", model), TimeSpan.FromSeconds(60), new Dictionary<string, string?> { [RabbitMqEndpoint.ConnectTimeoutEnvironmentVariable] = "3" });
        Assert.Equal(ConsoleHost.UnreachableExitCode, code);
        Assert.Contains("not reachable within 3 s", stderr);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        clock.Restart();
        (code, _, stderr) = await CliProcess.RunAsync(CliProcess.Coordinator, [.. RunArguments(model, output), "--rabbitmq", $"amqp://u:p@127.0.0.1:{closed}/", "--postgres", servers.Postgres, "--connect-timeout", "3"], TimeSpan.FromSeconds(60));
        Assert.Equal(ConsoleHost.UnreachableExitCode, code);
        Assert.Contains("not reachable within 3 s", stderr);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Each_role_can_do_its_job_and_no_more_and_a_run_talks_only_to_its_servers()
    {
        await using var servers = await TestServers.IsolateAsync();
        using var temp = new TempFolder();
        var model = EngineReference.TinyModel;
        var queue = QueueNames.CaptureQuestions(ModelFingerprint.Compute(ModelFolder.Open(model)));
        var roles = await Roles.CreateAsync(servers);
        try
        {
            await using var watch = new ConnectionWatch();
            using var worker = CliProcess.Start(CliProcess.Worker, WorkerArguments(roles.Url(servers, roles.Worker), model), watch.Environment);
            watch.Watch(worker.Id);
            await DistributedJobTests.WaitForConsumersAsync(servers, queue, 1, worker);
            var output = Path.Combine(temp.Path, "out");
            using var coordinator = CliProcess.Start(CliProcess.Coordinator, [.. RunArguments(model, output), "--rabbitmq", roles.Url(servers, roles.Coordinator), "--postgres", roles.AppPostgres], watch.Environment);
            watch.Watch(coordinator.Id);
            var exitCode = await coordinator.WaitAsync(TimeSpan.FromMinutes(4));
            Assert.True(exitCode == 0, coordinator.Output + coordinator.Error);

            // Only the broker and the database it was given; no HTTP(S) to anyone (MassTransit's usage telemetry, a hub).
            var rabbit = new Uri(servers.RabbitMq);
            var pgPort = new NpgsqlConnectionStringBuilder(servers.Postgres).Port;
            Assert.Contains($"127.0.0.1:{rabbit.Port}", watch.Remotes);
            Assert.Contains($"127.0.0.1:{pgPort}", watch.Remotes);
            Assert.Empty(watch.Outside($"127.0.0.1:{rabbit.Port}", $"127.0.0.1:{pgPort}"));
            Assert.Empty(watch.Proxied);

            // Migrations ran as the application's role, into its schema.
            Assert.Equal([roles.AppRole], await servers.QueryAsync<string>("SELECT DISTINCT tableowner::text FROM pg_tables WHERE tablename = 'question_results'"));
            Assert.Equal(["activations"], await servers.QueryAsync<string>("SELECT schemaname::text FROM pg_tables WHERE tablename = '__EFMigrationsHistory'"));

            await AssertPostgresRoleIsConfinedAsync(roles);
            await AssertRabbitMqRolesAreConfinedAsync(servers, roles, queue);
        }
        finally
        {
            await roles.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_watch_sees_a_connection_to_a_host_it_was_not_given()
    {
        // The proof that the test above can fail: a worker sent to the Hub for a model is caught by the trap.
        await using var watch = new ConnectionWatch();
        var environment = watch.Environment;
        environment["HF_HUB_OFFLINE"] = "0";
        environment["HF_HOME"] = Directory.CreateTempSubdirectory("activations-hf-").FullName;
        environment["HF_ENDPOINT"] = "https://huggingface.co";
        using var worker = CliProcess.Start(CliProcess.Worker, ["--rabbitmq", TestServers.RabbitMq, "--model", "someone/some-model", "--device", "cpu"], environment);
        watch.Watch(worker.Id);
        var deadline = DateTime.UtcNow.AddSeconds(45);
        while (watch.Proxied.Count == 0 && !worker.HasExited && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        worker.Kill();
        Assert.Contains(watch.Proxied, line => line.Contains("huggingface.co", StringComparison.Ordinal));
    }

    static async Task AssertPostgresRoleIsConfinedAsync(Roles roles)
    {
        await using var app = new NpgsqlConnection(roles.AppPostgres);
        await app.OpenAsync();
        async Task<string> RefusedAsync(string sql)
        {
            await using var command = new NpgsqlCommand(sql, app);
            var e = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
            return e.SqlState;
        }
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, await RefusedAsync($"CREATE DATABASE {roles.AppRole}_other"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, await RefusedAsync($"CREATE ROLE {roles.AppRole}_other"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, await RefusedAsync("CREATE TABLE public.intruder (x int)"));
        await using var check = new NpgsqlCommand("SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = current_user", app);
        Assert.Equal(false, await check.ExecuteScalarAsync());
    }

    static async Task AssertRabbitMqRolesAreConfinedAsync(TestServers.Isolation servers, Roles roles, string questions)
    {
        // A job's results queue, declared as its coordinator declares it (the job that ran deleted its own at its end).
        var resultsJob = Guid.NewGuid();
        var results = QueueNames.Results(resultsJob);
        var admin = new ConnectionFactory { Uri = new Uri(servers.RabbitMq), AutomaticRecoveryEnabled = false };
        await using (var adminConnection = await admin.CreateConnectionAsync())
        await using (var adminChannel = await adminConnection.CreateChannelAsync())
        {
            await ReplyTopology.DeclareAsync(adminChannel, resultsJob);
            await adminChannel.ExchangeDeclareAsync(results, ExchangeType.Fanout, durable: true);
        }
        // The worker's user has no management access at all, so no queue's data either.
        using (var workerApi = Management(roles.Worker, roles.Password))
        {
            var response = await workerApi.GetAsync($"api/queues/{servers.Name}/{results}");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        // KEDA's user reads queue lengths in this vhost, and changes nothing.
        using (var kedaApi = Management(roles.Keda, roles.Password))
        {
            var response = await kedaApi.GetAsync($"api/queues/{servers.Name}/{questions}");
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            Assert.Contains("\"messages\"", await response.Content.ReadAsStringAsync());
            Assert.False((await kedaApi.DeleteAsync($"api/queues/{servers.Name}/{questions}")).IsSuccessStatusCode);
            Assert.False((await kedaApi.GetAsync("api/users")).IsSuccessStatusCode);
        }
        // Over AMQP the worker can neither delete nor read the coordinator's queue. (It can delete its own question
        // queue: declaring a queue needs the configure right, which also allows deleting it. docs/security.md says so.)
        var factory = new ConnectionFactory { Uri = new Uri(roles.Url(servers, roles.Worker)), AutomaticRecoveryEnabled = false };
        await using var connection = await factory.CreateConnectionAsync();
        foreach (var attempt in new Func<IChannel, Task>[]
        {
            ch => ch.QueueDeleteAsync(results),
            ch => ch.ExchangeDeleteAsync(results),
            ch => ch.BasicGetAsync(results, autoAck: true),
            ch => ch.QueuePurgeAsync(results),
        })
        {
            await using var channel = await connection.CreateChannelAsync();
            var e = await Assert.ThrowsAsync<OperationInterruptedException>(() => attempt(channel));
            Assert.Contains("ACCESS_REFUSED", e.Message);
        }
    }

    static HttpClient Management(string user, string password)
    {
        var client = new HttpClient { BaseAddress = new Uri(Env("ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT")), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return client;
    }

    sealed record Connection(string Name, bool Ssl);

    static async Task<List<Connection>> ConnectionsAsync(string vhost)
    {
        using var admin = Management(Env("ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT_USER"), Env("ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT_PASSWORD"));
        // The management API's connection list lags a few seconds behind the broker.
        for (var i = 0; i < 40; i++)
        {
            var json = JsonDocument.Parse(await admin.GetStringAsync($"api/vhosts/{vhost}/connections"));
            var list = json.RootElement.EnumerateArray().Select(c => new Connection(c.GetProperty("name").GetString()!, c.GetProperty("ssl").GetBoolean())).ToList();
            if (list.Count > 0)
            {
                return list;
            }
            await Task.Delay(500);
        }
        throw new TimeoutException($"no connection listed in {vhost}");
    }

    static string MakeCa(string folder, string name)
    {
        var key = Path.Combine(folder, name + ".key");
        var pem = Path.Combine(folder, name + ".pem");
        var openssl = Process.Start(new ProcessStartInfo("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", $"/CN={name}", "-keyout", key, "-out", pem])
        { RedirectStandardError = true, RedirectStandardOutput = true })!;
        openssl.WaitForExit(30_000);
        Assert.Equal(0, openssl.ExitCode);
        return pem;
    }

    static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// The deployment's own role definitions applied to the test's vhost and database: deploy/roles/rabbitmq-definitions.sh
    /// (imported through the management API) and deploy/roles/postgres-init-app-role.sh (run with psql as the superuser).
    /// </summary>
    sealed record Roles(string Prefix, string Password, string AppRole, string AppPostgres) : IAsyncDisposable
    {
        public string Coordinator => $"{Prefix}-coordinator";
        public string Worker => $"{Prefix}-worker";
        public string Keda => $"{Prefix}-keda";
        string Admin => $"{Prefix}-admin";

        public string Url(TestServers.Isolation servers, string user) => new UriBuilder(servers.RabbitMq) { UserName = user, Password = Password }.Uri.ToString();

        public override string ToString() => Redacted.Describe(this);

        public static async Task<Roles> CreateAsync(TestServers.Isolation servers)
        {
            var prefix = servers.Name;
            var password = Guid.NewGuid().ToString("N");
            var definitions = await RunScriptAsync("roles/rabbitmq-definitions.sh", new()
            {
                ["RABBITMQ_VHOST"] = servers.Name,
                ["RABBITMQ_ADMIN_USER"] = $"{prefix}-admin", ["RABBITMQ_ADMIN_PASSWORD"] = password,
                ["RABBITMQ_COORDINATOR_USER"] = $"{prefix}-coordinator", ["RABBITMQ_COORDINATOR_PASSWORD"] = password,
                ["RABBITMQ_WORKER_USER"] = $"{prefix}-worker", ["RABBITMQ_WORKER_PASSWORD"] = password,
                ["RABBITMQ_KEDA_USER"] = $"{prefix}-keda", ["RABBITMQ_KEDA_PASSWORD"] = password,
            });
            using (var admin = Management(Env("ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT_USER"), Env("ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT_PASSWORD")))
            {
                var response = await admin.PostAsync("api/definitions", new StringContent(definitions, Encoding.UTF8, "application/json"));
                Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            }
            var superuser = new NpgsqlConnectionStringBuilder(servers.Postgres);
            var appRole = $"{prefix}_app";
            await RunScriptAsync("roles/postgres-init-app-role.sh", new()
            {
                ["PGHOST"] = superuser.Host!, ["PGPORT"] = superuser.Port.ToString(), ["PGPASSWORD"] = superuser.Password!,
                ["POSTGRES_USER"] = superuser.Username!, ["POSTGRES_DB"] = servers.Name,
                ["APP_DB_USER"] = appRole, ["APP_DB_PASSWORD"] = password,
            });
            var app = new NpgsqlConnectionStringBuilder(servers.Postgres) { Username = appRole, Password = password }.ConnectionString;
            return new Roles(prefix, password, appRole, app);
        }

        public async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            try
            {
                using var admin = Management(Env("ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT_USER"), Env("ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT_PASSWORD"));
                foreach (var user in new[] { Coordinator, Worker, Keda, Admin })
                {
                    await admin.DeleteAsync($"api/users/{user}");
                }
                await using var connection = new NpgsqlConnection(TestServers.Postgres);
                await connection.OpenAsync();
                var database = new NpgsqlConnectionStringBuilder(AppPostgres).Database;
                await using (var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", connection))
                {
                    await drop.ExecuteNonQueryAsync();
                }
                await using (var drop = new NpgsqlCommand($"DROP ROLE IF EXISTS {AppRole}", connection))
                {
                    await drop.ExecuteNonQueryAsync();
                }
            }
            catch (Exception)
            {
                // Cleanup only: the servers are private and thrown away after the run.
            }
        }
    }

    static async Task<string> RunScriptAsync(string script, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("sh", [Path.Combine(AppContext.BaseDirectory, "deploy", script)]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(process.ExitCode == 0, $"{script}: {await stderr}");
        return await stdout;
    }
}
