using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Activations.Coordinator.Store;

/// <summary>The job store. One model for both providers; each provider has its own context type for its migrations.</summary>
public abstract class ActivationsDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<JobRecord> Jobs => Set<JobRecord>();

    public DbSet<QuestionRecord> Questions => Set<QuestionRecord>();

    public DbSet<QuestionResultRecord> Results => Set<QuestionResultRecord>();

    public DbSet<QuestionFailureRecord> Failures => Set<QuestionFailureRecord>();

    public DbSet<ResultVectorRecord> Vectors => Set<ResultVectorRecord>();

    public DbSet<JobHookRecord> JobHooks => Set<JobHookRecord>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
        => modelBuilder.ApplyConfigurationsFromAssembly(typeof(ActivationsDbContext).Assembly);
}

/// <summary>PostgreSQL (distributed mode). Migrations in Store/Migrations/Postgres.</summary>
public sealed class PostgresActivationsDbContext(DbContextOptions<PostgresActivationsDbContext> options) : ActivationsDbContext(options);

/// <summary>SQLite in the output folder (embedded mode). Migrations in Store/Migrations/Sqlite.</summary>
public sealed class SqliteActivationsDbContext(DbContextOptions<SqliteActivationsDbContext> options) : ActivationsDbContext(options);

/// <summary>For `dotnet ef migrations add`; no connection is opened.</summary>
sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresActivationsDbContext>
{
    public PostgresActivationsDbContext CreateDbContext(string[] args)
        => new(new DbContextOptionsBuilder<PostgresActivationsDbContext>().UseNpgsql("Host=localhost").Options);
}

sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteActivationsDbContext>
{
    public SqliteActivationsDbContext CreateDbContext(string[] args)
        => new(new DbContextOptionsBuilder<SqliteActivationsDbContext>().UseSqlite("Data Source=design.db").Options);
}
