using Activations.Contracts.Messages;
using Activations.Coordinator.Tests;
using Npgsql;
using Xunit.Abstractions;

namespace Activations.Integration.Tests;

/// <summary>Two jobs at once on one broker: each coordinator receives its own job's results and no other's.</summary>
[Collection(ServersCollection.Name)]
public class ConcurrentJobsTests(ITestOutputHelper log)
{
    static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Two_coordinators_on_two_databases_run_at_once_and_each_gets_every_result_of_its_job()
    {
        var job = Faults.StandardJob;
        var expected = await Faults.EmbeddedRunAsync(job);
        await using var servers = await TestServers.IsolateAsync();
        // The second coordinator's own database: a result it took from the first's job could never be recorded.
        var secondName = servers.Name + "b";
        await using (var admin = new NpgsqlConnection(TestServers.Postgres))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {secondName}", admin);
            await create.ExecuteNonQueryAsync();
        }
        var secondPostgres = new NpgsqlConnectionStringBuilder(servers.Postgres) { Database = secondName }.ConnectionString;
        try
        {
            using var temp = new TempFolder();
            using var worker = CliProcess.Start(CliProcess.Worker, Faults.Worker(servers, "worker"));
            await DistributedJobTests.WaitForConsumersAsync(servers, Faults.Queue, 1, worker);
            var first = Path.Combine(temp.Path, "first");
            var second = Path.Combine(temp.Path, "second");
            // A job whose results went to the other coordinator would stall: --stall-timeout ends it with exit 4.
            using var a = CliProcess.Start(CliProcess.Coordinator, job.Distributed(first, servers, "--stall-timeout", "45"));
            using var b = CliProcess.Start(CliProcess.Coordinator, job.Arguments(second, "--rabbitmq", servers.RabbitMq, "--postgres", secondPostgres, "--stall-timeout", "45"));
            var exitA = await Faults.ExitAsync(servers, a, JobTimeout, b, worker);
            var exitB = await Faults.ExitAsync(null, b, JobTimeout, a, worker);
            log.WriteLine(a.Output + a.Error + "\n---\n" + b.Output + b.Error);
            Assert.True(exitA == 0, a.Output + a.Error);
            Assert.True(exitB == 0, b.Output + b.Error);
            Faults.AssertSameFiles(expected, first, FaultJob.Faithful, FaultJob.Unfaithful);
            Faults.AssertSameFiles(expected, second, FaultJob.Faithful, FaultJob.Unfaithful);

            // Each finished job deleted its own results queue.
            var jobA = (await servers.QueryAsync<Guid>("SELECT id FROM jobs")).Single();
            await using var connection = new NpgsqlConnection(secondPostgres);
            await connection.OpenAsync();
            await using var read = new NpgsqlCommand("SELECT id FROM jobs", connection);
            var jobB = (Guid)(await read.ExecuteScalarAsync())!;
            Assert.NotEqual(jobA, jobB);
            Assert.False(await Faults.QueueExistsAsync(servers, QueueNames.Results(jobA)));
            Assert.False(await Faults.QueueExistsAsync(servers, QueueNames.Results(jobB)));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(TestServers.Postgres);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {secondName} WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
