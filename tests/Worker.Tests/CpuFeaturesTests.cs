using System.Runtime.Intrinsics.X86;
using Activations.Contracts;
using Activations.Worker.Capture;

namespace Activations.Worker.Tests;

public class CpuFeaturesTests
{
    // Flags lines as Linux prints them (trimmed to the interesting part).
    const string Zen4 = "fpu vme de pse tsc msr pae mce cx8 apic sse sse2 ht syscall nx avx2 avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni";
    const string Zen3 = "fpu vme de pse tsc msr pae mce cx8 apic sse sse2 ht syscall nx fma avx2 sha_ni clwb vaes vpclmulqdq rdpid";
    const string Skylake = "fpu vme sse sse2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni";
    const string SapphireRapids = "fpu sse sse2 avx2 avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8";

    static string Cpuinfo(string model, string flags) =>
        $"processor\t: 0\nvendor_id\t: Whatever\nmodel name\t: {model}\nflags\t\t: {flags}\nbugs\t\t: none\n\nprocessor\t: 1\nmodel name\t: second\nflags\t\t: avx512_bf16\n";

    [Theory]
    [InlineData(Zen4, true, "avx512_bf16 in /proc/cpuinfo")]
    [InlineData(SapphireRapids, true, "avx512_bf16 and amx_bf16 in /proc/cpuinfo")]
    [InlineData("sse2 avx2 amx_bf16 amx_tile", true, "amx_bf16 in /proc/cpuinfo")]
    [InlineData(Zen3, false, "no avx512_bf16 or amx_bf16 in /proc/cpuinfo")]
    [InlineData(Skylake, false, "no avx512_bf16 or amx_bf16 in /proc/cpuinfo")]
    [InlineData("avx512_bf16x xavx512_bf16 amx_bf16_lookalike", false, "no avx512_bf16 or amx_bf16 in /proc/cpuinfo")]
    public void Native_bf16_is_avx512_bf16_or_amx_bf16_in_the_first_processors_flags(string flags, bool native, string basis)
    {
        var cpu = CpuFeatures.FromCpuinfo(Cpuinfo("AMD EPYC 9R14", flags));
        Assert.Equal("AMD EPYC 9R14", cpu.Processor);
        Assert.Equal(native, cpu.NativeBf16);
        Assert.Equal(basis, cpu.Basis);
    }

    [Fact]
    public void An_arm_cpuinfo_without_x86_flags_is_not_native()
    {
        var cpu = CpuFeatures.FromCpuinfo("processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 bf16 i8mm\nCPU implementer\t: 0x41\n");
        Assert.False(cpu.NativeBf16);
        Assert.Equal("unknown processor", cpu.Processor);
        Assert.Equal("no x86 flags in /proc/cpuinfo", cpu.Basis);
    }

    [Theory]
    [InlineData(null, true, "avx512_bf16 in /proc/cpuinfo")]
    [InlineData("auto", true, "avx512_bf16 in /proc/cpuinfo")]
    [InlineData("off", false, "ACTIVATIONS_CPU_BF16=off")]
    [InlineData(" OFF ", false, "ACTIVATIONS_CPU_BF16=off")]
    public void The_variable_can_turn_native_bf16_off(string? value, bool native, string basis)
    {
        var cpu = CpuFeatures.WithOverride(CpuFeatures.FromCpuinfo(Cpuinfo("x", Zen4)), value);
        Assert.Equal(native, cpu.NativeBf16);
        Assert.Equal(basis, cpu.Basis);
    }

    [Fact]
    public void The_variable_can_force_bf16_on_and_rejects_anything_else_by_name()
    {
        Assert.True(CpuFeatures.WithOverride(CpuFeatures.FromCpuinfo(Cpuinfo("x", Zen3)), "on").NativeBf16);
        var error = Assert.Throws<InvalidInputException>(() => CpuFeatures.WithOverride(CpuFeatures.FromCpuinfo(Cpuinfo("x", Zen3)), "yes"));
        Assert.Equal("ACTIVATIONS_CPU_BF16: unknown value 'yes': use auto, on or off", error.Message);
    }

    [Fact]
    public void This_machines_cpuinfo_and_cpuid_agree()
    {
        // Two independent readings of the same processor: the kernel's flags and the CPUID instruction.
        Assert.True(X86Base.IsSupported && File.Exists("/proc/cpuinfo"), "this check needs x86 Linux");
        var fromKernel = CpuFeatures.FromCpuinfo(File.ReadAllText("/proc/cpuinfo"));
        var fromCpuid = CpuFeatures.FromCpuid();
        Assert.Equal(fromKernel.NativeBf16, fromCpuid.NativeBf16);
        Assert.NotEqual("unknown processor", fromKernel.Processor);
        Assert.Equal(fromKernel, CpuFeatures.Detect("auto"));
    }
}
