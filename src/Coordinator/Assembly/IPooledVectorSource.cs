using Activations.Contracts;

namespace Activations.Coordinator.Assembly;

/// <summary>Each question's pooled vector per hook point, as float32 whatever the compute dtype.</summary>
public interface IPooledVectorSource
{
    /// <summary>Every hook some question has a vector for: what the results say they hold.</summary>
    IReadOnlyCollection<HookPoint> Hooks { get; }

    /// <summary>The vector of <paramref name="pairId"/>'s question at <paramref name="hook"/>, or false if it has none.</summary>
    bool TryGet(string pairId, HookPoint hook, out ReadOnlyMemory<float> vector);
}

/// <summary>An in-memory <see cref="IPooledVectorSource"/>, filled from the recorded results.</summary>
public sealed class PooledVectorTable : IPooledVectorSource
{
    readonly Dictionary<(string PairId, HookPoint Hook), float[]> _vectors = new();
    readonly SortedSet<HookPoint> _hooks = [];

    public int Count => _vectors.Count;

    public IReadOnlyCollection<HookPoint> Hooks => _hooks;

    public void Add(string pairId, HookPoint hook, float[] vector)
    {
        if (!_vectors.TryAdd((pairId, hook), vector))
        {
            throw new InvalidOperationException($"a vector for pair '{pairId}' at {hook} was already added");
        }
        _hooks.Add(hook);
    }

    public bool TryGet(string pairId, HookPoint hook, out ReadOnlyMemory<float> vector)
    {
        var found = _vectors.TryGetValue((pairId, hook), out var values);
        vector = values;
        return found;
    }
}
