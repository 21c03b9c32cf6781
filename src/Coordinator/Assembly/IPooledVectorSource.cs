namespace Activations.Coordinator.Assembly;

/// <summary>Each question's pooled residual vector per layer, as float32 whatever the compute dtype.</summary>
public interface IPooledVectorSource
{
    /// <summary>The vector of <paramref name="pairId"/>'s question at <paramref name="layer"/>; throws if absent.</summary>
    ReadOnlyMemory<float> Get(string pairId, int layer);
}

/// <summary>An in-memory <see cref="IPooledVectorSource"/>, filled as worker results arrive.</summary>
public sealed class PooledVectorTable : IPooledVectorSource
{
    readonly Dictionary<(string PairId, int Layer), float[]> _vectors = new();

    public int Count => _vectors.Count;

    public void Add(string pairId, int layer, float[] vector)
    {
        if (!_vectors.TryAdd((pairId, layer), vector))
        {
            throw new InvalidOperationException($"a vector for pair '{pairId}' at layer {layer} was already added");
        }
    }

    public ReadOnlyMemory<float> Get(string pairId, int layer) =>
        _vectors.TryGetValue((pairId, layer), out var vector)
            ? vector
            : throw new KeyNotFoundException($"no pooled vector for pair '{pairId}' at layer {layer}");
}
