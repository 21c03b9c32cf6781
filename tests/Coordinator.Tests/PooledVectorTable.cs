using Activations.Contracts;
using Activations.Coordinator.Assembly;

namespace Activations.Coordinator.Tests;

/// <summary>An in-memory <see cref="IPooledVectorSource"/>: the vectors a test builds, for assembly.</summary>
public sealed class PooledVectorTable : IPooledVectorSource
{
    readonly Dictionary<(string PairId, HookPoint Hook), float[]> _vectors = new();

    public int Count => _vectors.Count;

    public void Add(string pairId, HookPoint hook, float[] vector)
    {
        if (!_vectors.TryAdd((pairId, hook), vector))
        {
            throw new InvalidOperationException($"a vector for pair '{pairId}' at {hook} was already added");
        }
    }

    public bool TryGet(string pairId, HookPoint hook, out ReadOnlyMemory<float> vector)
    {
        var found = _vectors.TryGetValue((pairId, hook), out var values);
        vector = values;
        return found;
    }

    public Task VisitLengthsAsync(Action<string, HookPoint, int> visit, CancellationToken cancellation)
    {
        foreach (var ((pairId, hook), values) in _vectors)
        {
            visit(pairId, hook, values.Length);
        }
        return Task.CompletedTask;
    }

    public Task ReadHookAsync(HookPoint hook, RowDestination destination, CancellationToken cancellation)
    {
        foreach (var ((pairId, at), values) in _vectors)
        {
            if (at == hook)
            {
                var target = destination(pairId, values.Length);
                if (!target.IsEmpty)
                {
                    values.CopyTo(target);
                }
            }
        }
        return Task.CompletedTask;
    }
}
