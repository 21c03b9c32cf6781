using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.Coordinator.Store;
using Microsoft.Extensions.Logging.Abstractions;

namespace Activations.Integration.Tests;

/// <summary>The store against the real PostgreSQL: a duplicate or late result, or a foreign one, changes nothing.</summary>
[Collection(ServersCollection.Name)]
public class JobStoreTests
{
    const string Fingerprint = "f00d";

    static async Task<(JobStore Store, JobRecord Job)> CreateJobAsync(TestServers.Isolation servers, int questions)
    {
        var store = new JobStore(StoreConnection.Postgres(servers.Postgres), NullLogger<JobStore>.Instance);
        await store.MigrateAsync(CancellationToken.None);
        var job = new JobRecord
        {
            Id = Guid.NewGuid(), Key = Guid.NewGuid().ToString("N"), SettingsJson = "{}", ModelFingerprint = Fingerprint, OutputDirectory = "/tmp/x",
            QuestionCount = questions, Status = JobStatus.Running, CreatedAt = DateTime.UtcNow,
        };
        var records = Enumerable.Range(0, questions).Select(i => new QuestionRecord { JobId = job.Id, QuestionIndex = i, PairId = $"p{i}", Label = "faithful", Row = i, Text = $"q{i}" }).ToList();
        var (created, resumed) = await store.FindOrCreateJobAsync(job, [new JobHookRecord { Hook = Hook.Name, Width = 2 }], records, CancellationToken.None);
        Assert.False(resumed);
        return (store, created);
    }

    static readonly HookPoint Hook = HookPoint.ResidPost(1);

    static QuestionActivationsCaptured Result(Guid jobId, int index, float value, string fingerprint = Fingerprint) => new()
    {
        JobId = jobId, QuestionIndex = index, PairId = $"p{index}", ModelFingerprint = fingerprint,
        Vectors = [HookVector.Pack(Hook, [value, value])], TokenCount = 3, Dtype = "float32", Device = "cpu", Worker = "w",
    };

    /// <summary>The stored vectors of a question, by hook name, read as assembly reads them.</summary>
    static async Task<Dictionary<string, float[]>> VectorsAsync(JobStore store, Guid jobId, int index)
    {
        var hooks = new HashSet<string>();
        await store.VisitVectorLengthsAsync(jobId, (question, hook, _) =>
        {
            if (question == index)
            {
                hooks.Add(hook);
            }
        }, CancellationToken.None);
        var vectors = new Dictionary<string, float[]>();
        foreach (var hook in hooks)
        {
            var bytes = Array.Empty<byte>();
            await store.ReadHookVectorsAsync(jobId, hook, (question, length) => question == index ? bytes = new byte[length] : Span<byte>.Empty, CancellationToken.None);
            vectors[hook] = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray();
        }
        return vectors;
    }

    [Fact]
    public async Task Duplicates_late_results_and_foreign_results_are_ignored()
    {
        await using var servers = await TestServers.IsolateAsync();
        var (store, job) = await CreateJobAsync(servers, 3);

        Assert.Equal(1, await store.RecordResultsAsync([Result(job.Id, 0, 1f)], CancellationToken.None));
        // The same question again with other values, twice in one batch, and with an unknown question or job.
        Assert.Equal(1, await store.RecordResultsAsync([Result(job.Id, 0, 9f), Result(job.Id, 1, 2f), Result(job.Id, 1, 8f), Result(job.Id, 7, 1f), Result(Guid.NewGuid(), 0, 1f)], CancellationToken.None));
        // A result computed by another model.
        Assert.Equal(0, await store.RecordResultsAsync([Result(job.Id, 2, 3f, "other")], CancellationToken.None));

        var results = (await store.ResultsAsync(job.Id, CancellationToken.None)).OrderBy(r => r.QuestionIndex).ToList();
        Assert.Equal([0, 1], results.Select(r => r.QuestionIndex));
        Assert.Equal(new Dictionary<string, float[]> { [Hook.Name] = [1f, 1f] }, await VectorsAsync(store, job.Id, 0));
        Assert.Equal(new Dictionary<string, float[]> { [Hook.Name] = [2f, 2f] }, await VectorsAsync(store, job.Id, 1));
        Assert.Equal("cpu", results[0].Device);
        Assert.Equal([new JobHookRecord { JobId = job.Id, Hook = Hook.Name, Width = 2 }], await store.JobHooksAsync(job.Id, CancellationToken.None), JobHookComparer.Instance);

        // Once the job is completed, a late result (even for a question it lacks) and a late failure change nothing.
        await store.SetStatusAsync(job.Id, JobStatus.Completed, null, CancellationToken.None);
        Assert.Equal(0, await store.RecordResultsAsync([Result(job.Id, 2, 3f), Result(job.Id, 0, 5f)], CancellationToken.None));
        Assert.Equal(0, await store.RecordFailuresAsync([new QuestionCaptureFailed { JobId = job.Id, QuestionIndex = 2, PairId = "p2", Reason = "late", Worker = "w" }], CancellationToken.None));
        Assert.Equal(2, (await store.ResultsAsync(job.Id, CancellationToken.None)).Count);
        Assert.Empty(await store.FailuresAsync(job.Id, CancellationToken.None));
        Assert.Equal(new Dictionary<string, float[]> { [Hook.Name] = [1f, 1f] }, await VectorsAsync(store, job.Id, 0));
    }

    [Fact]
    public async Task A_failure_keeps_its_first_reason_and_a_later_result_wins_over_it()
    {
        await using var servers = await TestServers.IsolateAsync();
        var (store, job) = await CreateJobAsync(servers, 2);
        Assert.Equal(1, await store.RecordFailuresAsync([new QuestionCaptureFailed { JobId = job.Id, QuestionIndex = 0, PairId = "p0", Reason = "first", Worker = "w" }], CancellationToken.None));
        Assert.Equal(0, await store.RecordFailuresAsync([new QuestionCaptureFailed { JobId = job.Id, QuestionIndex = 0, PairId = "p0", Reason = "second", Worker = "w" }], CancellationToken.None));
        Assert.Equal("first", Assert.Single(await store.FailuresAsync(job.Id, CancellationToken.None)).Reason);
        Assert.Equal(new JobProgress(2, 0, 1), await store.ProgressAsync(job.Id, CancellationToken.None));
        // A result for the same question (another worker succeeded) counts; the failure no longer does.
        Assert.Equal(1, await store.RecordResultsAsync([Result(job.Id, 0, 1f)], CancellationToken.None));
        Assert.Empty(await store.FailuresAsync(job.Id, CancellationToken.None));
        Assert.Equal(new JobProgress(2, 1, 0), await store.ProgressAsync(job.Id, CancellationToken.None));
    }

    [Fact]
    public async Task A_result_and_its_vectors_are_stored_together_and_one_holding_a_hook_the_job_did_not_ask_for_is_rejected()
    {
        await using var servers = await TestServers.IsolateAsync();
        var (store, job) = await CreateJobAsync(servers, 2);
        // A result holding a hook the job did not ask for is rejected before anything of it is stored (ResultValidator);
        // assembly's membership check is the second line behind it (AssemblyTests).
        var extra = HookPoint.At(HookKind.MlpOut, 1);
        var foreign = Result(job.Id, 0, 1f) with { Vectors = [HookVector.Pack(Hook, [1f, 1f]), HookVector.Pack(extra, [3f, 4f, 5f])] };
        Assert.Equal(0, await store.RecordResultsAsync([foreign], CancellationToken.None));
        Assert.Empty(await VectorsAsync(store, job.Id, 0));
        // The result the job asked for goes in with its vectors, in one transaction.
        Assert.Equal(1, await store.RecordResultsAsync([Result(job.Id, 0, 2f)], CancellationToken.None));
        Assert.Equal(new Dictionary<string, float[]> { [Hook.Name] = [2f, 2f] }, await VectorsAsync(store, job.Id, 0));
        // A duplicate changes nothing: the vectors stored are those of the copy whose row went in.
        Assert.Equal(0, await store.RecordResultsAsync([Result(job.Id, 0, 9f)], CancellationToken.None));
        Assert.Equal(new Dictionary<string, float[]> { [Hook.Name] = [2f, 2f] }, await VectorsAsync(store, job.Id, 0));
    }

    sealed class JobHookComparer : IEqualityComparer<JobHookRecord>
    {
        public static readonly JobHookComparer Instance = new();

        public bool Equals(JobHookRecord? x, JobHookRecord? y) => x is not null && y is not null && (x.JobId, x.Hook, x.Width) == (y.JobId, y.Hook, y.Width);

        public int GetHashCode(JobHookRecord obj) => obj.Hook.GetHashCode();
    }
}
