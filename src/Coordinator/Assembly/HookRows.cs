using System.Runtime.InteropServices;
using Activations.Contracts;
using static TorchSharp.torch;

namespace Activations.Coordinator.Assembly;

/// <summary>
/// Where each pair's vector goes: one or more tables (a class, or the whole file), each a list of ids in row order.
/// Reads one hook at a time from an <see cref="IPooledVectorSource"/>: the lengths of every vector first (no value
/// read), then one hook's values straight into one preallocated float32 tensor per table.
/// </summary>
public sealed class HookRows
{
    readonly Dictionary<string, (int Table, int Row)> _rowOf = new(StringComparer.Ordinal);

    public HookRows(string noun, params IReadOnlyList<string>[] tables)
    {
        Noun = noun;
        Tables = tables;
        for (var table = 0; table < tables.Length; table++)
        {
            for (var row = 0; row < tables[table].Count; row++)
            {
                if (!_rowOf.TryAdd(tables[table][row], (table, row)))
                {
                    throw new ArgumentException($"{noun} '{tables[table][row]}' is listed twice", nameof(tables));
                }
            }
        }
    }

    /// <summary>How messages name a row's id: pair, prompt.</summary>
    public string Noun { get; }

    public IReadOnlyList<IReadOnlyList<string>> Tables { get; }

    /// <summary>
    /// The checking pass: every hook the vectors hold (sorted), and for each of <paramref name="hooks"/> the number of
    /// values of each row's vector per table (-1: none). Reads no value.
    /// </summary>
    public async Task<(SortedSet<HookPoint> Held, Dictionary<HookPoint, int[][]> Lengths)> LengthsAsync(
        IPooledVectorSource source, IEnumerable<HookPoint> hooks, CancellationToken cancellation)
    {
        var held = new SortedSet<HookPoint>();
        var lengths = hooks.ToDictionary(h => h, _ => Tables.Select(t => Enumerable.Repeat(-1, t.Count).ToArray()).ToArray());
        await source.VisitLengthsAsync((id, hook, length) =>
        {
            held.Add(hook);
            if (lengths.TryGetValue(hook, out var tables) && _rowOf.TryGetValue(id, out var at))
            {
                tables[at.Table][at.Row] = length;
            }
        }, cancellation);
        return (held, lengths);
    }

    /// <summary>
    /// One float32 tensor [rows, <paramref name="width"/>] per table, filled with <paramref name="hook"/>'s vectors in
    /// row order; the caller disposes them. A vector of another width, or a row left without one, is a contract violation.
    /// </summary>
    public async Task<Tensor[]> ReadAsync(IPooledVectorSource source, HookPoint hook, int width, CancellationToken cancellation)
    {
        var tensors = Tables.Select(t => empty([t.Count, width], ScalarType.Float32)).ToArray();
        try
        {
            var filled = Tables.Select(t => new bool[t.Count]).ToArray();
            await source.ReadHookAsync(hook, (id, length) =>
            {
                if (!_rowOf.TryGetValue(id, out var at))
                {
                    return [];
                }
                if (length != width)
                {
                    throw new ContractViolationException(ContractCheck.ExpectedWidth, hook, $"{Noun} '{id}' has {length} values, the job expects {width}");
                }
                filled[at.Table][at.Row] = true;
                return MemoryMarshal.Cast<byte, float>(tensors[at.Table].bytes).Slice(at.Row * width, width);
            }, cancellation);
            for (var table = 0; table < Tables.Count; table++)
            {
                var missing = Array.IndexOf(filled[table], false);
                if (missing >= 0)
                {
                    throw new ContractViolationException(ContractCheck.MissingHook, hook, $"{Noun} '{Tables[table][missing]}' has no vector for it");
                }
            }
            return tensors;
        }
        catch
        {
            Array.ForEach(tensors, t => t.Dispose());
            throw;
        }
    }
}
