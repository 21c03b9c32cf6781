using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Store;
using Activations.Coordinator.Tests;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace Activations.Integration.Tests;

/// <summary>
/// Assembly streamed from the real stores (PostgreSQL, and SQLite as embedded runs use it): one hook at a time, the
/// same files as assembling the same vectors from memory, and a hook whose stored rows are missing or wrong fails
/// before any file is written.
/// </summary>
[Collection(ServersCollection.Name)]
public class StreamingAssemblyTests
{
    static readonly HookPoint[] Hooks = [HookPoint.Embed, HookPoint.ResidPost(1), HookPoint.ResidPost(2)];
    const int Width = 8;
    const int Faithful = 12;
    const int Unfaithful = 11;

    sealed record StoredJob(JobStore Store, Guid JobId, List<string> Faithful, List<string> Unfaithful, Dictionary<int, string> PairOf, PooledVectorTable Table)
    {
        public AssemblyRequest Request(IPooledVectorSource vectors) =>
            new([.. Hooks.Select(h => new RequestedHook(h, Width))], Faithful, Unfaithful, vectors, ActivationDtype.Float32)
            {
                Formats = OutputFormats.Pt | OutputFormats.Safetensors,
                Metadata = new Dictionary<string, string> { ["model"] = "test" },
            };

        public IPooledVectorSource Stored => new StoredVectorSource(Store, JobId, PairOf);
    }

    /// <summary>Values exact in float32 and distinct per question, hook and column; questions recorded out of order, through the store's own recording path.</summary>
    static float Value(int question, int hook, int column) => question * 100f + hook * 10f + column / 8f;

    static async Task<StoredJob> StoreAsync(StoreConnection connection)
    {
        var store = new JobStore(connection, NullLogger<JobStore>.Instance);
        await store.MigrateAsync(CancellationToken.None);
        var job = new JobRecord
        {
            Id = Guid.NewGuid(), Key = Guid.NewGuid().ToString("N"), SettingsJson = "{}", ModelFingerprint = "f00d", OutputDirectory = "/tmp/x",
            QuestionCount = Faithful + Unfaithful, Status = JobStatus.Running, CreatedAt = DateTime.UtcNow,
        };
        var questions = Enumerable.Range(0, Faithful + Unfaithful).Select(i => new QuestionRecord
        {
            JobId = job.Id, QuestionIndex = i, PairId = $"p{i:D2}", Label = i < Faithful ? "faithful" : "unfaithful", Row = i < Faithful ? i : i - Faithful, Text = $"q{i}",
        }).ToList();
        await store.FindOrCreateJobAsync(job, [.. Hooks.Select(h => new JobHookRecord { Hook = h.Name, Width = Width })], questions, CancellationToken.None);
        var table = new PooledVectorTable();
        var results = questions.OrderByDescending(q => q.QuestionIndex).Select(q => new QuestionActivationsCaptured
        {
            JobId = job.Id, QuestionIndex = q.QuestionIndex, PairId = q.PairId, ModelFingerprint = "f00d", TokenCount = 3, Dtype = "float32", Device = "cpu", Worker = "w",
            Vectors = [.. Hooks.Select((h, k) =>
            {
                float[] values = [.. Enumerable.Range(0, Width).Select(c => Value(q.QuestionIndex, k, c))];
                table.Add(q.PairId, h, values);
                return HookVector.Pack(h, values);
            })],
        }).ToList();
        Assert.Equal(results.Count, await store.RecordResultsAsync(results, CancellationToken.None));
        return new StoredJob(store, job.Id,
            [.. questions.Where(q => q.Label == "faithful").Select(q => q.PairId)], [.. questions.Where(q => q.Label == "unfaithful").Select(q => q.PairId)],
            questions.ToDictionary(q => q.QuestionIndex, q => q.PairId), table);
    }

    static ActivationAssembler Assembler() => new(new ActivationFileWriter(), NullLogger<ActivationAssembler>.Instance);

    /// <summary>Runs <paramref name="test"/> against a fresh store of <paramref name="provider"/>: a PostgreSQL database, or a SQLite file.</summary>
    static async Task WithStoreAsync(string provider, Func<StoredJob, string, Task> test)
    {
        using var temp = new TempFolder();
        if (provider == "postgres")
        {
            await using var servers = await TestServers.IsolateAsync();
            await test(await StoreAsync(StoreConnection.Postgres(servers.Postgres)), temp.Path);
        }
        else
        {
            var folder = Directory.CreateDirectory(Path.Combine(temp.Path, "db")).FullName;
            await test(await StoreAsync(StoreConnection.EmbeddedIn(folder)), temp.Path);
        }
    }

    /// <summary>Records the order of reads, and checks at each read that the previous hooks' files are written and this one's are not.</summary>
    sealed class WatchedSource(IPooledVectorSource inner, string output) : IPooledVectorSource
    {
        public List<HookPoint> Reads { get; } = [];

        public Task VisitLengthsAsync(Action<string, HookPoint, int> visit, CancellationToken cancellation)
        {
            // The checking pass comes first: nothing is written yet.
            Assert.Empty(Reads);
            Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any());
            return inner.VisitLengthsAsync(visit, cancellation);
        }

        public Task ReadHookAsync(HookPoint hook, RowDestination destination, CancellationToken cancellation)
        {
            foreach (var done in Reads)
            {
                Assert.True(File.Exists(Path.Combine(output, done.FileStem + ".pt")), $"{done} was not written before {hook} was read");
            }
            Assert.False(File.Exists(Path.Combine(output, hook.FileStem + ".pt")));
            Reads.Add(hook);
            return inner.ReadHookAsync(hook, destination, cancellation);
        }
    }

    [Theory]
    [InlineData("postgres")]
    [InlineData("sqlite")]
    public Task Streamed_hook_by_hook_from_the_store_the_files_equal_those_assembled_from_memory(string provider) => WithStoreAsync(provider, async (job, temp) =>
    {
        var streamed = Path.Combine(temp, "streamed");
        var fromMemory = Path.Combine(temp, "memory");
        var watched = new WatchedSource(job.Stored, streamed);

        var written = await Assembler().AssembleAndWriteAsync(job.Request(watched), streamed);
        await Assembler().AssembleAndWriteAsync(job.Request(job.Table), fromMemory);

        Assert.Equal(Hooks.Order(), watched.Reads);
        Assert.Equal(Hooks.Length * 2, written.Count);
        foreach (var hook in Hooks)
        {
            var safetensors = hook.FileStem + ".safetensors";
            Assert.Equal(File.ReadAllBytes(Path.Combine(fromMemory, safetensors)), File.ReadAllBytes(Path.Combine(streamed, safetensors)));
            var (f, u) = ActivationFileWriter.ReadLayer(Path.Combine(streamed, hook.FileStem + ".pt"));
            var (ef, eu) = ActivationFileWriter.ReadLayer(Path.Combine(fromMemory, hook.FileStem + ".pt"));
            using (f) using (u) using (ef) using (eu)
            {
                Assert.Equal([Faithful, Width], f.shape);
                Assert.Equal([Unfaithful, Width], u.shape);
                Assert.Equal(ef.data<float>().ToArray(), f.data<float>().ToArray());
                Assert.Equal(eu.data<float>().ToArray(), u.data<float>().ToArray());
                // Row r of a class is its r-th question, whatever order the results were recorded in.
                var k = Array.IndexOf(Hooks, hook);
                Assert.Equal(Value(Faithful + 3, k, 5), u[3, 5].item<float>());
                Assert.Equal(Value(7, k, 0), f[7, 0].item<float>());
            }
        }
    });

    [Theory]
    [InlineData("postgres", "missing")]
    [InlineData("postgres", "short")]
    [InlineData("postgres", "extra")]
    [InlineData("sqlite", "missing")]
    [InlineData("sqlite", "short")]
    [InlineData("sqlite", "extra")]
    public Task A_stored_hook_with_missing_or_wrong_rows_fails_before_any_file_is_written(string provider, string breakage) => WithStoreAsync(provider, async (job, temp) =>
    {
        // Only the last hook is bad: the first ones must not be written either.
        var last = Hooks.Max();
        var statement = breakage switch
        {
            "missing" => $"DELETE FROM result_vectors WHERE question_index = 15 AND hook = '{last.Name}'",
            "short" => $"UPDATE result_vectors SET vector = substr(vector, 1, {(Width - 1) * 4}) WHERE question_index = 15 AND hook = '{last.Name}'",
            _ => $"INSERT INTO result_vectors (job_id, question_index, hook, vector) SELECT job_id, question_index, 'blocks.9.hook_mlp_out', vector FROM result_vectors WHERE question_index = 4 AND hook = '{last.Name}'",
        };
        await using (var db = job.Store.Connection.CreateContext())
        {
            Assert.Equal(1, await db.Database.ExecuteSqlRawAsync(statement));
        }
        var output = Directory.CreateDirectory(Path.Combine(temp, "out")).FullName;
        File.WriteAllText(Path.Combine(output, Hooks[0].FileStem + ".pt"), "previous run");
        var manifestBuilt = false;

        var e = await Assert.ThrowsAsync<ContractViolationException>(() => Assembler().AssembleAndWriteAsync(job.Request(job.Stored), output, () =>
        {
            manifestBuilt = true;
            throw new InvalidOperationException("not reached");
        }));

        Assert.Equal(breakage switch { "missing" => ContractCheck.MissingHook, "short" => ContractCheck.SameModelDimension, _ => ContractCheck.RequestedHook }, e.Check);
        Assert.Contains(breakage == "extra" ? "blocks.9.hook_mlp_out" : "pair 'p15'", e.Message);
        Assert.False(manifestBuilt);
        Assert.Equal([Hooks[0].FileStem + ".pt"], Directory.GetFileSystemEntries(output).Select(Path.GetFileName));
        Assert.Equal("previous run", File.ReadAllText(Path.Combine(output, Hooks[0].FileStem + ".pt")));
    });
}
