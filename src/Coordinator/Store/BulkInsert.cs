using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Activations.Coordinator.Store;

/// <summary>What a bulk insert did: how many rows went in and, when asked for, their (job_id, question_index) keys.</summary>
public sealed record BulkInserted(int Count, IReadOnlyList<(Guid JobId, int QuestionIndex)> Keys);

/// <summary>
/// INSERT … ON CONFLICT DO NOTHING for many rows at once, the one way the store writes rows in bulk: the primary key
/// turns a repeat into nothing. PostgreSQL: one INSERT … SELECT * FROM unnest(array parameters), the columns sent as
/// binary arrays. SQLite: one prepared statement run per row inside one transaction.
/// Runs in the context's transaction when it has one, else in its own.
/// </summary>
public static class BulkInsert
{
    /// <param name="returnKeys">also return the (job_id, question_index) of the rows that went in</param>
    public static async Task<BulkInserted> IgnoringDuplicatesAsync(ActivationsDbContext db, string table, string[] columns, IReadOnlyList<object[]> rows, CancellationToken ct, bool returnKeys = false)
    {
        if (rows.Count == 0)
        {
            return new BulkInserted(0, []);
        }
        await db.Database.OpenConnectionAsync(ct);
        var own = db.Database.CurrentTransaction is null ? await db.Database.BeginTransactionAsync(ct) : null;
        await using (own)
        {
            var transaction = db.Database.CurrentTransaction!.GetDbTransaction();
            var inserted = db.Database.IsNpgsql()
                ? await PostgresAsync((NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction)transaction, table, columns, rows, returnKeys, ct)
                : await SqliteAsync(db.Database.GetDbConnection(), transaction, table, columns, rows, returnKeys, ct);
            if (own is not null)
            {
                await own.CommitAsync(ct);
            }
            return inserted;
        }
    }

    /// <summary>
    /// One statement: every column travels as one array parameter (binary), unnest() zips them back into rows.
    /// No temporary table, so no catalog writes per insert.
    /// </summary>
    static async Task<BulkInserted> PostgresAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string table, string[] columns, IReadOnlyList<object[]> rows, bool returnKeys, CancellationToken ct)
    {
        var list = string.Join(", ", columns);
        await using var command = new NpgsqlCommand { Connection = connection, Transaction = transaction };
        for (var c = 0; c < columns.Length; c++)
        {
            var column = Array.CreateInstance(rows[0][c].GetType(), rows.Count);
            for (var r = 0; r < rows.Count; r++)
            {
                column.SetValue(rows[r][c], r);
            }
            command.Parameters.Add(new NpgsqlParameter($"p{c}", NpgsqlDbType.Array | TypeOf(rows[0][c])) { Value = column });
        }
        var arrays = string.Join(", ", columns.Select((_, c) => $"@p{c}"));
        command.CommandText = $"INSERT INTO {table} ({list}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING{(returnKeys ? " RETURNING job_id, question_index" : "")}";
        var keys = new List<(Guid, int)>();
        if (!returnKeys)
        {
            return new BulkInserted(await command.ExecuteNonQueryAsync(ct), keys);
        }
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            keys.Add((reader.GetGuid(0), reader.GetInt32(1)));
        }
        return new BulkInserted(keys.Count, keys);
    }

    static NpgsqlDbType TypeOf(object value) => value switch
    {
        Guid => NpgsqlDbType.Uuid,
        int => NpgsqlDbType.Integer,
        long => NpgsqlDbType.Bigint,
        string => NpgsqlDbType.Text,
        byte[] => NpgsqlDbType.Bytea,
        DateTime => NpgsqlDbType.TimestampTz,
        _ => throw new ArgumentException($"no PostgreSQL type for {value.GetType()}"),
    };

    static async Task<BulkInserted> SqliteAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, string table, string[] columns, IReadOnlyList<object[]> rows, bool returnKeys, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        var parameters = columns.Select((_, c) =>
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = $"@p{c}";
            command.Parameters.Add(parameter);
            return parameter;
        }).ToArray();
        command.CommandText = $"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES ({string.Join(", ", parameters.Select(p => p.ParameterName))}) ON CONFLICT DO NOTHING";
        command.Prepare();
        var keys = new List<(Guid, int)>();
        var inserted = 0;
        foreach (var row in rows)
        {
            for (var c = 0; c < columns.Length; c++)
            {
                // EF Core keeps SQLite GUIDs as upper-case text; raw parameters must match.
                parameters[c].Value = row[c] is Guid guid ? guid.ToString().ToUpperInvariant() : row[c];
            }
            if (await command.ExecuteNonQueryAsync(ct) == 1)
            {
                inserted++;
                if (returnKeys)
                {
                    keys.Add(((Guid)row[Array.IndexOf(columns, "job_id")], (int)row[Array.IndexOf(columns, "question_index")]));
                }
            }
        }
        return new BulkInserted(inserted, keys);
    }
}
