using System.Collections;
using Activations.Contracts;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Activations.Probing.Input;

/// <summary>
/// Reads every <c>*_activations.pt</c> (torch.save zip of <c>{'faithful': [n, d], 'unfaithful': [m, d]}</c>) and
/// <c>*_activations.safetensors</c> (tensors <c>faithful</c>, <c>unfaithful</c>) in a folder and checks each before any
/// work: both classes present with at least <c>minimumPerClass</c> rows, 2-D, one width, floating point, all finite.
/// A hook written in both formats is read once, from the .pt file.
/// </summary>
public static class ActivationFolderReader
{
    public const string FaithfulKey = "faithful";
    public const string UnfaithfulKey = "unfaithful";
    const string Pt = ".pt";
    const string Safetensors = ".safetensors";

    public static ActivationFolder Read(string folder, int minimumPerClass)
    {
        if (!Directory.Exists(folder))
        {
            throw new InvalidInputException(folder, "no such folder");
        }
        var run = RunDescription.Read(folder);
        var candidates = Directory.EnumerateFiles(folder)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(f => f.EndsWith(HookNames.Suffix + Pt, StringComparison.Ordinal) || f.EndsWith(HookNames.Suffix + Safetensors, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (candidates.Count == 0)
        {
            throw new InvalidInputException(folder, $"no activation files here (*{HookNames.Suffix}{Pt} or *{HookNames.Suffix}{Safetensors})");
        }
        var skipped = new List<string>();
        var sets = new List<ActivationSet>();
        foreach (var file in candidates)
        {
            var stem = StemOf(file);
            if (file.EndsWith(Safetensors, StringComparison.Ordinal) && candidates.Contains(stem + HookNames.Suffix + Pt))
            {
                skipped.Add(file);
                continue;
            }
            sets.Add(ReadOne(Path.Combine(folder, file), stem, run.HookFor(file, stem), minimumPerClass));
        }
        var ordered = sets.OrderBy(s => HookNames.OrderKey(s.Hook)).ThenBy(s => s.FileName, StringComparer.Ordinal).ToList();
        return new ActivationFolder(folder, run, ordered, skipped);
    }

    static string StemOf(string file)
    {
        var withoutExtension = file.EndsWith(Pt, StringComparison.Ordinal) ? file[..^Pt.Length] : file[..^Safetensors.Length];
        return withoutExtension[..^HookNames.Suffix.Length];
    }

    static ActivationSet ReadOne(string path, string stem, string hook, int minimumPerClass)
    {
        using var scope = NewDisposeScope();
        IDictionary state;
        try
        {
            state = path.EndsWith(Safetensors, StringComparison.Ordinal)
                ? new Hashtable(TorchSharp.PyBridge.Safetensors.LoadStateDict(path))
                : PyTorchUnpickler.UnpickleStateDict(path);
        }
        catch (Exception e) when (e is not InvalidInputException)
        {
            throw new InvalidInputException(path, $"cannot be read: {e.Message}", inner: e);
        }
        var faithful = Matrix(path, state, FaithfulKey, minimumPerClass);
        var unfaithful = Matrix(path, state, UnfaithfulKey, minimumPerClass);
        if (faithful.shape[1] != unfaithful.shape[1])
        {
            throw new InvalidInputException(path, $"'{FaithfulKey}' has width {faithful.shape[1]} but '{UnfaithfulKey}' has {unfaithful.shape[1]}");
        }
        var rows = cat([faithful, unfaithful], 0).to(float64).contiguous().data<double>().ToArray();
        return new ActivationSet(Path.GetFileName(path), stem, hook, (int)faithful.shape[0], (int)unfaithful.shape[0], (int)faithful.shape[1], rows);
    }

    static Tensor Matrix(string path, IDictionary state, string key, int minimumPerClass)
    {
        if (!state.Contains(key) || state[key] is not Tensor tensor)
        {
            throw new InvalidInputException(path, $"has no '{key}' tensor: a probe needs both classes", field: key);
        }
        if (tensor.dim() != 2)
        {
            throw new InvalidInputException(path, $"'{key}' has shape [{string.Join(", ", tensor.shape)}]; expected [rows, d_model]", field: key);
        }
        if (!tensor.is_floating_point())
        {
            throw new InvalidInputException(path, $"'{key}' is {tensor.dtype}; expected floating point", field: key);
        }
        if (tensor.shape[0] < minimumPerClass)
        {
            throw new InvalidInputException(path, $"'{key}' has {tensor.shape[0]} rows, fewer than --folds ({minimumPerClass}): every fold needs a row of each class", field: key);
        }
        var finite = tensor.isfinite().all(1); // [rows]
        if (!finite.all().item<bool>())
        {
            var row = finite.logical_not().nonzero()[0, 0].item<long>();
            throw new InvalidInputException(path, $"'{key}' row {row} holds a non-finite value (NaN or infinity)", field: key);
        }
        return tensor;
    }
}
