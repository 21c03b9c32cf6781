using Activations.Contracts;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Capture;

/// <summary>
/// The device and dtype a job computes in, resolved from what it asked for and what this machine has:
/// <see cref="Dtype"/> is the dtype actually used (results carry it as <see cref="DtypeName"/>).
/// </summary>
public sealed record ComputeTarget(Device Device, ScalarType Dtype)
{
    public string DeviceName => Device.type == DeviceType.CUDA ? $"cuda:{Math.Max(Device.index, 0)}" : "cpu";

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
    public static ComputeTarget Resolve(ComputeDevice device, ComputeDtype dtype, ILogger logger, CpuFeatures? cpu = null)
    {
        var (kind, resolved) = ResolveKind(device, dtype, logger, cpu: cpu);
        return new ComputeTarget(kind == ComputeDevice.Cuda ? torch.CUDA : torch.CPU, resolved switch
        {
            ComputeDtype.BFloat16 => ScalarType.BFloat16,
            ComputeDtype.Float16 => ScalarType.Float16,
            _ => ScalarType.Float32,
        });
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
