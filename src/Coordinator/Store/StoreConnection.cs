using Activations.ServiceDefaults;
using Microsoft.EntityFrameworkCore;

namespace Activations.Coordinator.Store;

/// <summary>Where the job store lives: PostgreSQL (distributed) or a SQLite file in the output folder (embedded).</summary>
public sealed record StoreConnection(bool IsPostgres, string ConnectionString)
{
    public const string SqliteFileName = "activations.db";

    public static StoreConnection Postgres(string connectionString) => new(true, connectionString);

    public static StoreConnection EmbeddedIn(string outputDirectory)
        => new(false, $"Data Source={Path.Combine(outputDirectory, SqliteFileName)};Pooling=False");

    public ActivationsDbContext CreateContext()
    {
        if (IsPostgres)
        {
            return new PostgresActivationsDbContext(new DbContextOptionsBuilder<PostgresActivationsDbContext>()
                .UseNpgsql(DurableCommits(ConnectionString)).Options);
        }
        return new SqliteActivationsDbContext(new DbContextOptionsBuilder<SqliteActivationsDbContext>()
            .UseSqlite(ConnectionString).Options);
    }

    /// <summary>
    /// A result's message is acknowledged once its row is committed, so the commit must survive a server crash even
    /// where the server runs with synchronous_commit = off (as the test servers do): this session asks for it.
    /// </summary>
    static string DurableCommits(string connectionString)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        builder.Options = $"{builder.Options} -c synchronous_commit=on".Trim();
        return builder.ConnectionString;
    }

    public override string ToString() => IsPostgres ? $"PostgreSQL ({ConnectionStrings.Mask(ConnectionString)})" : $"SQLite ({ConnectionString})";
}
