using Activations.Contracts;
using Activations.ServiceDefaults;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Activations.Coordinator.Assembly;

/// <summary>
/// Writes a hook's file (<c>layer_{L}_activations.pt</c> for blocks.L.hook_resid_post, <c>{hook}_activations.pt</c> for
/// every other hook): the dict <c>{'faithful': Tensor, 'unfaithful': Tensor}</c> in torch.save's zip format
/// (<see cref="TorchSaveFormat"/>), which <c>torch.load(path, weights_only=True)</c> reads. Each file is written atomically.
/// </summary>
public sealed class ActivationFileWriter
{
    public const string FaithfulKey = "faithful";
    public const string UnfaithfulKey = "unfaithful";

    readonly Action<Stream, IReadOnlyList<(string Name, Tensor Tensor)>> _serialize;
    readonly ILogger _logger;

    public ActivationFileWriter(ILogger<ActivationFileWriter>? logger = null)
        : this(TorchSaveFormat.Write, logger)
    {
    }

    /// <summary>Lets tests make the serializer fail part way through a file.</summary>
    internal ActivationFileWriter(Action<Stream, IReadOnlyList<(string Name, Tensor Tensor)>> serialize, ILogger? logger = null)
    {
        _serialize = serialize;
        _logger = logger ?? NullLogger.Instance;
    }

    public static string FileNameFor(int layer) => FileNameFor(HookPoint.ResidPost(layer));

    public static string FileNameFor(HookPoint hook) => $"{hook.FileStem}.pt";

    /// <summary>
    /// Creates the output folder if missing and proves it can be written, so the CLI fails before hours of compute
    /// rather than after. A path that is a file, or a folder that cannot be created or written, is bad input.
    /// </summary>
    public static void CheckWritable(string outDir)
    {
        if (File.Exists(outDir))
        {
            throw new InvalidInputException(outDir, "is a file; the output must be a folder");
        }
        try
        {
            Directory.CreateDirectory(outDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new InvalidInputException(outDir, $"cannot create the output folder: {e.Message}", inner: e);
        }
        var probe = Path.Combine(outDir, $".write-probe-{Guid.NewGuid():N}{AtomicFile.TempSuffix}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException(outDir, $"the output folder is not writable: {e.Message}", inner: e);
        }
    }

    /// <summary>Writes blocks.<paramref name="layer"/>.hook_resid_post's file into <paramref name="outDir"/> and returns its path.</summary>
    public string WriteLayer(string outDir, int layer, Tensor faithful, Tensor unfaithful) => WriteHook(outDir, HookPoint.ResidPost(layer), faithful, unfaithful);

    /// <summary>Writes one hook's .pt file into <paramref name="outDir"/> and returns its path.</summary>
    public string WriteHook(string outDir, HookPoint hook, Tensor faithful, Tensor unfaithful)
    {
        CheckWritable(outDir);
        var path = Path.Combine(outDir, FileNameFor(hook));
        using (NewDisposeScope())
        {
            // The file holds a tensor's bytes as its whole storage at offset 0, so the writer gets compact CPU tensors.
            List<(string, Tensor)> state = [(FaithfulKey, Compact(faithful)), (UnfaithfulKey, Compact(unfaithful))];
            AtomicFile.Write(path, stream => _serialize(stream, state));
        }
        _logger.LogInformation("Wrote {ActivationFile}: faithful [{FaithfulShape}], unfaithful [{UnfaithfulShape}], {Dtype}",
            path, string.Join(", ", faithful.shape), string.Join(", ", unfaithful.shape), faithful.dtype);
        return path;
    }

    /// <summary>Writes <paramref name="tensors"/> as one torch.save dict at <paramref name="path"/>, atomically (the `capture` layout).</summary>
    public string WriteDict(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors)
    {
        CheckWritable(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using (NewDisposeScope())
        {
            var state = tensors.Select(t => (t.Name, Compact(t.Tensor))).ToList();
            AtomicFile.Write(path, stream => _serialize(stream, state));
        }
        _logger.LogInformation("Wrote {ActivationFile}: {Tensors}", path, string.Join(", ", tensors.Select(t => $"{t.Name} [{string.Join(", ", t.Tensor.shape)}]")));
        return path;
    }

    /// <summary>A CPU tensor whose bytes are its whole storage from offset 0: itself when it already is (no copy of a large hook), else a compact copy.</summary>
    static Tensor Compact(Tensor tensor)
    {
        var detached = tensor.detach();
        return detached.device_type == DeviceType.CPU && detached.is_contiguous() && detached.storage_offset() == 0
            ? detached
            : detached.cpu().contiguous().clone();
    }

    /// <summary>Writes one hook's .safetensors file (tensors faithful and unfaithful, <paramref name="metadata"/> in the header) and returns its path.</summary>
    public string WriteSafetensors(string outDir, HookPoint hook, Tensor faithful, Tensor unfaithful, IReadOnlyDictionary<string, string> metadata)
    {
        CheckWritable(outDir);
        var path = Path.Combine(outDir, $"{hook.FileStem}.safetensors");
        SafetensorsFileWriter.Write(path, [(FaithfulKey, faithful), (UnfaithfulKey, unfaithful)], metadata);
        _logger.LogInformation("Wrote {ActivationFile}", path);
        return path;
    }

    /// <summary>Reads a .pt file back (for checks and tests); the caller disposes the tensors.</summary>
    public static (Tensor Faithful, Tensor Unfaithful) ReadLayer(string path)
    {
        var state = PyTorchUnpickler.UnpickleStateDict(path);
        return ((Tensor)state[FaithfulKey]!, (Tensor)state[UnfaithfulKey]!);
    }
}
