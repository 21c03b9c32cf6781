using System.Runtime.InteropServices;
using Activations.Worker.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Loading;

/// <summary>
/// Free memory per device, read before a model is loaded: the CPU's MemAvailable (/proc/meminfo), shared evenly by
/// the CPU entries of a list; a CUDA device's free bytes from the CUDA runtime (cudaMemGetInfo), else from NVML.
/// </summary>
public static class DeviceMemory
{
    /// <summary>The budgets of <paramref name="devices"/>; null when a CUDA device's free memory cannot be read.</summary>
    public static IReadOnlyList<DeviceBudget>? Budgets(IReadOnlyList<Device> devices)
    {
        var cpuEntries = devices.Count(d => d.type == DeviceType.CPU);
        var budgets = new List<DeviceBudget>();
        foreach (var device in devices)
        {
            long? free = device.type == DeviceType.CUDA ? CudaFree(Math.Max(device.index, 0)) : CpuAvailable() / Math.Max(1, cpuEntries);
            if (free is null)
            {
                return null;
            }
            budgets.Add(new DeviceBudget(device, free.Value));
        }
        return budgets;
    }

    /// <summary>MemAvailable from /proc/meminfo, or what the GC reports as available elsewhere.</summary>
    public static long CpuAvailable()
    {
        const string meminfo = "/proc/meminfo";
        if (File.Exists(meminfo))
        {
            foreach (var line in File.ReadLines(meminfo))
            {
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (parts.Length >= 2 && long.TryParse(parts[1], out var kb))
                    {
                        return kb * 1024;
                    }
                }
            }
        }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    static long? CudaFree(int index) => CudaRuntimeFree(index) ?? NvmlFree(index);

    // cudaSetDevice + cudaMemGetInfo: the CUDA runtime's own numbering (CUDA_VISIBLE_DEVICES applied).
    delegate int CudaSetDevice(int device);
    delegate int CudaGetDevice(out int device);
    delegate int CudaMemGetInfo(out nuint free, out nuint total);

    static long? CudaRuntimeFree(int index)
    {
        foreach (var name in new[] { "libcudart.so.12", "libcudart.so.13", "libcudart.so", "cudart64_12.dll" })
        {
            if (!NativeLibrary.TryLoad(name, typeof(DeviceMemory).Assembly, null, out var library))
            {
                continue;
            }
            try
            {
                var get = Marshal.GetDelegateForFunctionPointer<CudaGetDevice>(NativeLibrary.GetExport(library, "cudaGetDevice"));
                var set = Marshal.GetDelegateForFunctionPointer<CudaSetDevice>(NativeLibrary.GetExport(library, "cudaSetDevice"));
                var info = Marshal.GetDelegateForFunctionPointer<CudaMemGetInfo>(NativeLibrary.GetExport(library, "cudaMemGetInfo"));
                if (get(out var current) != 0 || set(index) != 0)
                {
                    return null;
                }
                var status = info(out var free, out _);
                set(current);
                return status == 0 ? (long)free : null;
            }
            catch (EntryPointNotFoundException)
            {
                return null;
            }
        }
        return null;
    }

    [StructLayout(LayoutKind.Sequential)]
    struct NvmlMemory
    {
        public ulong Total;
        public ulong Free;
        public ulong Used;
    }

    delegate int NvmlInit();
    delegate int NvmlHandleByIndex(uint index, out IntPtr device);
    delegate int NvmlHandleByUuid([MarshalAs(UnmanagedType.LPStr)] string uuid, out IntPtr device);
    delegate int NvmlMemoryInfo(IntPtr device, out NvmlMemory memory);

    // NVML numbers devices by PCI bus; CUDA_VISIBLE_DEVICES (indices or UUIDs) is mapped here.
    static long? NvmlFree(int index)
    {
        if (!NativeLibrary.TryLoad("libnvidia-ml.so.1", typeof(DeviceMemory).Assembly, null, out var library))
        {
            return null;
        }
        try
        {
            var init = Marshal.GetDelegateForFunctionPointer<NvmlInit>(NativeLibrary.GetExport(library, "nvmlInit_v2"));
            var byIndex = Marshal.GetDelegateForFunctionPointer<NvmlHandleByIndex>(NativeLibrary.GetExport(library, "nvmlDeviceGetHandleByIndex_v2"));
            var byUuid = Marshal.GetDelegateForFunctionPointer<NvmlHandleByUuid>(NativeLibrary.GetExport(library, "nvmlDeviceGetHandleByUUID"));
            var memory = Marshal.GetDelegateForFunctionPointer<NvmlMemoryInfo>(NativeLibrary.GetExport(library, "nvmlDeviceGetMemoryInfo"));
            if (init() != 0)
            {
                return null;
            }
            var visible = Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES")?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            IntPtr handle;
            int status;
            if (visible is { Length: > 0 })
            {
                if (index >= visible.Length)
                {
                    return null;
                }
                status = uint.TryParse(visible[index], out var physical) ? byIndex(physical, out handle) : byUuid(visible[index], out handle);
            }
            else
            {
                status = byIndex((uint)index, out handle);
            }
            return status == 0 && memory(handle, out var info) == 0 ? (long)info.Free : null;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }
}
