using System.Runtime.InteropServices;
using Activations.Contracts;

namespace Activations.Coordinator.Assembly;

/// <summary>Where one vector's float32 values go: a span of exactly <c>length</c> floats, or empty to skip it.</summary>
public delegate Span<float> RowDestination(string pairId, int length);

/// <summary>
/// Each question's pooled vector per hook point, as float32 whatever the compute dtype, read one hook at a time so
/// assembly never holds more than one hook. A read may be retried from its start (a database restart), so visits
/// and destinations must be idempotent.
/// </summary>
public interface IPooledVectorSource
{
    /// <summary>Visits the pair, hook and number of values of every vector without reading the values: the checking pass.</summary>
    Task VisitLengthsAsync(Action<string, HookPoint, int> visit, CancellationToken cancellation);

    /// <summary>Copies every vector at <paramref name="hook"/> into the span <paramref name="destination"/> gives for it.</summary>
    Task ReadHookAsync(HookPoint hook, RowDestination destination, CancellationToken cancellation);
}

/// <summary>
/// A finished job's vectors as the store holds them, streamed hook by hook (<see cref="Store.JobStore.ReadHookVectorsAsync"/>):
/// only the questions in <paramref name="pairOf"/> (those kept) are read into rows.
/// </summary>
public sealed class StoredVectorSource(Store.JobStore store, Guid jobId, IReadOnlyDictionary<int, string> pairOf) : IPooledVectorSource
{
    public Task VisitLengthsAsync(Action<string, HookPoint, int> visit, CancellationToken cancellation)
        => store.VisitVectorLengthsAsync(jobId, (index, hook, bytes) =>
        {
            if (pairOf.TryGetValue(index, out var pairId))
            {
                // Names were checked as the messages were read (HookPoint's JSON converter).
                visit(pairId, HookPoint.Parse(hook), Floats(bytes));
            }
        }, cancellation);

    public Task ReadHookAsync(HookPoint hook, RowDestination destination, CancellationToken cancellation)
        => store.ReadHookVectorsAsync(jobId, hook.Name, (index, bytes) =>
            pairOf.TryGetValue(index, out var pairId) ? MemoryMarshal.AsBytes(destination(pairId, Floats(bytes))) : [], cancellation);

    /// <summary>float32 little-endian: 4 bytes a value (a length that is not a multiple fails every width check).</summary>
    static int Floats(int bytes) => bytes % sizeof(float) == 0 ? bytes / sizeof(float) : -1;
}
