using MassTransit;
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

/// <summary>The replies' routing itself, against the real broker: by job id, to that job's queue only.</summary>
[Collection(ServersCollection.Name)]
public class ReplyTopologyTests
{
    [Fact]
    public async Task A_reply_reaches_its_jobs_queue_only_and_a_queue_declared_ahead_is_the_one_the_coordinator_declares()
    {
        await using var servers = await TestServers.IsolateAsync();
        var (mine, other) = (Guid.NewGuid(), Guid.NewGuid());
        // Declared ahead as a tool would (ReplyTopology.DeclareAsync); the coordinator's endpoint then declares the
        // same queue with its own arguments, which RabbitMQ accepts only when they are equal.
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(servers.RabbitMq) };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await Activations.ServiceDefaults.ReplyTopology.DeclareAsync(channel, mine);
            await Activations.ServiceDefaults.ReplyTopology.DeclareAsync(channel, other);
        }
        var received = new System.Collections.Concurrent.ConcurrentBag<Guid>();
        var bus = await Faults.StartBusAsync(servers);
        try
        {
            var handle = bus.ConnectReceiveEndpoint(QueueNames.Results(mine), endpoint =>
            {
                Activations.ServiceDefaults.ReplyTopology.ConfigureEndpoint(endpoint, mine);
                endpoint.Handler<QuestionsAnswered>(context =>
                {
                    received.Add(context.Message.JobId);
                    return Task.CompletedTask;
                });
            });
            await handle.Ready.WaitAsync(TimeSpan.FromSeconds(30));
            await bus.Publish(new QuestionsAnswered { JobId = other, Results = [], Failures = [] });
            await bus.Publish(new QuestionsAnswered { JobId = mine, Results = [], Failures = [] });
            Assert.True(await Faults.EventuallyAsync(() => Task.FromResult(received.Count >= 1), TimeSpan.FromSeconds(30)));
            await Task.Delay(1000);
            Assert.Equal([mine], received.ToArray());
            // The other job's reply waits in the other job's queue, for its coordinator.
            Assert.Equal(1u, await Faults.ReadyMessagesAsync(servers, QueueNames.Results(other)));
            await handle.StopAsync();
        }
        finally
        {
            await bus.StopAsync();
        }
    }
}
