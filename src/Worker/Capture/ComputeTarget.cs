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

    public string DtypeName => Dtype switch
    {
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        _ => "float32",
    };

    /// <param name="cpu">the CPU's features; null: this machine's (<see cref="CpuFeatures.Current"/>)</param>
    public static ComputeTarget Resolve(ComputeDevice device, ComputeDtype dtype, ILogger logger, CpuFeatures? cpu = null)
    {
        var cuda = device switch
        {
            ComputeDevice.Cuda when !torch.cuda.is_available() => throw new InvalidInputException("--device", "CUDA was asked for, but no CUDA device is available"),
            ComputeDevice.Cuda => true,
            ComputeDevice.Cpu => false,
            _ => torch.cuda.is_available(),
        };
        var resolved = dtype switch
        {
            ComputeDtype.Float32 => ScalarType.Float32,
            ComputeDtype.BFloat16 => ScalarType.BFloat16,
            ComputeDtype.Float16 => ScalarType.Float16,
            _ => cuda ? ScalarType.Float16 : ScalarType.Float32,
        };
        if (!cuda && resolved == ScalarType.Float16)
        {
            // fp16 matmuls on the CPU are two orders of magnitude slower than bf16 or float32.
            logger.LogWarning("fp16 was asked for on the CPU, where it is very slow: computing in float32 instead");
            resolved = ScalarType.Float32;
        }
        if (!cuda && resolved == ScalarType.BFloat16 && (cpu ?? CpuFeatures.Current) is { NativeBf16: false } features)
        {
            // Without AVX-512 BF16 or AMX, libtorch's bf16 matmul is a reference loop, far slower than float32.
            logger.LogWarning("bf16 was asked for, but this CPU ({Processor}) has no native bf16 ({Basis}): computing in float32 instead", features.Processor, features.Basis);
            resolved = ScalarType.Float32;
        }
        return new ComputeTarget(cuda ? torch.CUDA : torch.CPU, resolved);
    }
}
