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
                .UseNpgsql(ConnectionString).Options);
        }
        return new SqliteActivationsDbContext(new DbContextOptionsBuilder<SqliteActivationsDbContext>()
            .UseSqlite(ConnectionString).Options);
    }

    public override string ToString() => IsPostgres ? $"PostgreSQL ({ConnectionStrings.Mask(ConnectionString)})" : $"SQLite ({ConnectionString})";
}
