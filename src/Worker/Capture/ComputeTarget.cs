using Activations.Contracts;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Capture;

/// <summary>
/// The devices and dtype a job computes in, resolved from what it asked for and what this machine has. One device
/// normally; several when a model's layers are split over them (the first holds the embedding).
/// <see cref="Dtype"/> is the dtype actually used (results carry it as <see cref="DtypeName"/>).
/// </summary>
public sealed record ComputeTarget(Device Device, ScalarType Dtype)
{
    /// <summary>Every device the model may use, in order; <see cref="Device"/> first.</summary>
    public IReadOnlyList<Device> Devices { get; init; } = [Device];

    public string DeviceName => string.Join(",", Devices.Select(NameOf));

    public static string NameOf(Device device) => device.type == DeviceType.CUDA ? $"cuda:{Math.Max(device.index, 0)}" : "cpu";

    /// <summary>The device kind, as a resolved capture spec names it.</summary>
    public ComputeDevice Kind => Device.type == DeviceType.CUDA ? ComputeDevice.Cuda : ComputeDevice.Cpu;

    /// <summary>The dtype as a resolved capture spec names it.</summary>
    public ComputeDtype ComputeDtype => Dtype switch
    {
        ScalarType.Float16 => ComputeDtype.Float16,
        ScalarType.BFloat16 => ComputeDtype.BFloat16,
        _ => ComputeDtype.Float32,
    };

    public string DtypeName => Dtype switch
    {
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        _ => "float32",
    };

    /// <param name="cpu">the CPU's features; null: this machine's (<see cref="CpuFeatures.Current"/>)</param>
    public static ComputeTarget Resolve(ComputeDevice device, ComputeDtype dtype, ILogger logger, CpuFeatures? cpu = null) => Resolve(DeviceRequest.Of(device), dtype, logger, cpu);

    /// <summary>The target for --device as given (a kind, or a list such as cuda:0,cuda:1: every listed device must exist here).</summary>
    /// <param name="cpu">the CPU's features; null: this machine's (<see cref="CpuFeatures.Current"/>)</param>
    public static ComputeTarget Resolve(DeviceRequest request, ComputeDtype dtype, ILogger logger, CpuFeatures? cpu = null)
    {
        if (request.Kind == ComputeDevice.Cuda && request.Entries.Count > 0 && !torch.cuda.is_available())
        {
            throw new InvalidInputException("--device", $"{request} was asked for, but no CUDA device is available");
        }
        var (kind, resolved) = ResolveKind(request.Kind, dtype, logger, cpu: cpu);
        var scalar = resolved switch
        {
            ComputeDtype.BFloat16 => ScalarType.BFloat16,
            ComputeDtype.Float16 => ScalarType.Float16,
            _ => ScalarType.Float32,
        };
        if (request.Entries.Count == 0)
        {
            return new ComputeTarget(kind == ComputeDevice.Cuda ? torch.CUDA : torch.CPU, scalar);
        }
        var devices = request.Entries.Select(e => new Device(e)).ToArray();
        var count = kind == ComputeDevice.Cuda ? torch.cuda.device_count() : 0;
        foreach (var d in devices.Where(d => d.type == DeviceType.CUDA && d.index >= count))
        {
            throw new InvalidInputException("--device", $"{NameOf(d)} was asked for, but this machine has {count} CUDA device(s)");
        }
        return new ComputeTarget(devices[0], scalar) { Devices = devices };
    }

    /// <summary>The device kind and dtype a job computes in (what its capture spec records), without touching a device.</summary>
    /// <param name="onThisMachine">false where the job runs on other machines' workers (a coordinator without a local
    /// worker): --device cuda is then taken as asked, without a GPU here, and bf16 is left to the workers' CPUs</param>
    /// <param name="cpu">the CPU's features; null: this machine's (<see cref="CpuFeatures.Current"/>)</param>
    public static (ComputeDevice Kind, ComputeDtype Dtype) ResolveKind(ComputeDevice device, ComputeDtype dtype, ILogger logger, bool onThisMachine = true, CpuFeatures? cpu = null)
    {
        var cuda = device switch
        {
            ComputeDevice.Cuda when onThisMachine && !torch.cuda.is_available() => throw new InvalidInputException("--device", "CUDA was asked for, but no CUDA device is available"),
            ComputeDevice.Cuda => true,
            ComputeDevice.Cpu => false,
            _ => torch.cuda.is_available(),
        };
        var resolved = dtype switch
        {
            ComputeDtype.Float32 or ComputeDtype.BFloat16 or ComputeDtype.Float16 => dtype,
            _ => cuda ? ComputeDtype.Float16 : ComputeDtype.Float32,
        };
        if (!cuda && resolved == ComputeDtype.Float16)
        {
            // fp16 matmuls on the CPU are two orders of magnitude slower than bf16 or float32.
            logger.LogWarning("fp16 was asked for on the CPU, where it is very slow: computing in float32 instead");
            resolved = ComputeDtype.Float32;
        }
        if (!cuda && onThisMachine && resolved == ComputeDtype.BFloat16 && (cpu ?? CpuFeatures.Current) is { NativeBf16: false } features)
        {
            // Without AVX-512 BF16 or AMX, libtorch's bf16 matmul is a reference loop, far slower than float32.
            logger.LogWarning("bf16 was asked for, but this CPU ({Processor}) has no native bf16 ({Basis}): computing in float32 instead", features.Processor, features.Basis);
            resolved = ComputeDtype.Float32;
        }
        return (cuda ? ComputeDevice.Cuda : ComputeDevice.Cpu, resolved);
    }
}
