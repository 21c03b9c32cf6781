using System.Runtime.Intrinsics.X86;
using System.Text;
using Activations.Contracts;

namespace Activations.Worker.Capture;

/// <summary>
/// This machine's processor and whether it computes bf16 natively (AVX-512 BF16 or AMX-BF16). Without them
/// libtorch has no fast bf16 matmul on the CPU (it falls back to a reference loop, tens of times slower than
/// float32), so <see cref="ComputeTarget"/> computes a bf16 request in float32 there.
/// </summary>
/// <param name="Processor">the model name, as /proc/cpuinfo or CPUID gives it</param>
/// <param name="NativeBf16">whether bf16 requests compute in bf16 on this CPU</param>
/// <param name="Basis">how <paramref name="NativeBf16"/> was decided, for logs and the benchmark</param>
public sealed record CpuFeatures(string Processor, bool NativeBf16, string Basis)
{
    /// <summary>
    /// Overrides the detection: <c>auto</c> (default) detects, <c>off</c> treats the CPU as not native (bf16 requests
    /// compute in float32), <c>on</c> computes bf16 even where it is emulated (slow; for bf16's exact numerics).
    /// </summary>
    public const string Bf16Variable = "ACTIVATIONS_CPU_BF16";

    /// <summary>The flags (Linux /proc/cpuinfo names) that give libtorch's oneDNN a native bf16 matmul.</summary>
    public static readonly IReadOnlyList<string> NativeBf16Flags = ["avx512_bf16", "amx_bf16"];

    static readonly Lazy<CpuFeatures> current = new(() => Detect(Environment.GetEnvironmentVariable(Bf16Variable)));

    /// <summary>This machine, under <see cref="Bf16Variable"/>; detected once per process.</summary>
    public static CpuFeatures Current => current.Value;

    /// <summary>Detects this machine's CPU (/proc/cpuinfo on Linux, else CPUID), then applies <paramref name="bf16Override"/>.</summary>
    public static CpuFeatures Detect(string? bf16Override)
    {
        const string cpuinfo = "/proc/cpuinfo";
        var detected = File.Exists(cpuinfo) ? FromCpuinfo(File.ReadAllText(cpuinfo)) : FromCpuid();
        return WithOverride(detected, bf16Override);
    }

    /// <summary>Reads the first processor's <c>model name</c> and <c>flags</c> from a /proc/cpuinfo text.</summary>
    public static CpuFeatures FromCpuinfo(string text)
    {
        string? processor = null;
        string[]? flags = null;
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon < 0)
            {
                continue;
            }
            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (key == "model name" && processor is null)
            {
                processor = value;
            }
            else if (key == "flags" && flags is null)
            {
                flags = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            }
        }
        processor ??= "unknown processor";
        if (flags is null)
        {
            return new CpuFeatures(processor, false, "no x86 flags in /proc/cpuinfo");
        }
        var native = NativeBf16Flags.Where(flags.Contains).ToList();
        return native.Count > 0
            ? new CpuFeatures(processor, true, $"{string.Join(" and ", native)} in /proc/cpuinfo")
            : new CpuFeatures(processor, false, "no avx512_bf16 or amx_bf16 in /proc/cpuinfo");
    }

    /// <summary>CPUID where there is no /proc/cpuinfo (x86 only): leaf 7 sub-leaf 1, EAX bit 5 is AVX512_BF16 (every AMX CPU has it too).</summary>
    public static CpuFeatures FromCpuid()
    {
        if (!X86Base.IsSupported)
        {
            return new CpuFeatures("unknown processor", false, "not an x86 processor");
        }
        var processor = new StringBuilder();
        if ((uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax >= 0x80000004)
        {
            for (var leaf = 0x80000002; leaf <= 0x80000004; leaf++)
            {
                var (a, b, c, d) = X86Base.CpuId(unchecked((int)leaf), 0);
                foreach (var register in new[] { a, b, c, d })
                {
                    processor.Append(Encoding.ASCII.GetString(BitConverter.GetBytes(register)));
                }
            }
        }
        var name = processor.ToString().TrimEnd('\0').Trim() is { Length: > 0 } brand ? brand : "unknown x86 processor";
        // Avx512F.IsSupported also means the OS saves the AVX-512 state.
        var native = Avx512F.IsSupported && X86Base.CpuId(0, 0).Eax >= 7 && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;
        return new CpuFeatures(name, native, native ? "AVX512_BF16 in CPUID" : "no AVX512_BF16 in CPUID");
    }

    /// <summary>Applies a <see cref="Bf16Variable"/> value to what was detected.</summary>
    public static CpuFeatures WithOverride(CpuFeatures detected, string? bf16Override) => (bf16Override?.Trim().ToLowerInvariant() ?? "") switch
    {
        "" or "auto" => detected,
        "off" => detected with { NativeBf16 = false, Basis = $"{Bf16Variable}=off" },
        "on" => detected with { NativeBf16 = true, Basis = $"{Bf16Variable}=on" },
        _ => throw new InvalidInputException(Bf16Variable, $"unknown value '{bf16Override}': use auto, on or off"),
    };
}
