namespace Activations.Bench;

/// <summary>Resident memory of this process from /proc (Linux): current, and the peak since the last reset.</summary>
static class ProcessMemory
{
    public static long ResidentBytes() => ReadStatusKilobytes("VmRSS:") * 1024;

    public static long PeakResidentBytes() => ReadStatusKilobytes("VmHWM:") * 1024;

    /// <summary>Resets the peak (VmHWM) to the current resident size.</summary>
    public static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");

    static long ReadStatusKilobytes(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                return long.Parse(line[key.Length..].Trim().Split(' ')[0]);
            }
        }
        throw new InvalidOperationException($"{key} not in /proc/self/status");
    }
}
