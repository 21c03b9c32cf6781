using System.Globalization;

namespace Activations.Bench;

/// <summary>
/// CPU time of a process tree from /proc (Linux): the process, its live descendants, and the children it has
/// already reaped (cutime/cstime), so short-lived PostgreSQL backends are counted too.
/// </summary>
static class ProcessCpu
{
    static readonly double TicksPerSecond = 100; // USER_HZ: 100 on every Linux this runs on

    public static double TreeSeconds(int root) => TreeSeconds([root])[0];

    /// <summary>The CPU seconds of each root's tree (0 for a missing one), from one pass over /proc.</summary>
    public static double[] TreeSeconds(IReadOnlyList<int?> roots)
    {
        var parents = new Dictionary<int, int>();
        var seconds = new Dictionary<int, double>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || Read(pid) is not { } stat)
            {
                continue;
            }
            parents[pid] = stat.Parent;
            seconds[pid] = stat.Seconds;
        }
        var totals = new double[roots.Count];
        foreach (var (pid, cpu) in seconds)
        {
            for (var p = pid; p > 1 && parents.TryGetValue(p, out var parent); p = parent)
            {
                var index = IndexOf(roots, p);
                if (index >= 0)
                {
                    totals[index] += cpu;
                    break;
                }
            }
        }
        return totals;
    }

    static int IndexOf(IReadOnlyList<int?> roots, int pid)
    {
        for (var i = 0; i < roots.Count; i++)
        {
            if (roots[i] == pid)
            {
                return i;
            }
        }
        return -1;
    }

    static (int Parent, double Seconds)? Read(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        // pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17): fields counted after the ')'.
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)
            + long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture);
        return (int.Parse(fields[1], CultureInfo.InvariantCulture), ticks / TicksPerSecond);
    }

    /// <summary>The process listening on TCP <paramref name="port"/> (from /proc/net/tcp and the processes' open sockets), or null.</summary>
    public static int? ListeningOn(int port)
    {
        var inodes = new HashSet<string>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table))
            {
                continue;
            }
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // local_address is ADDR:PORT in hex; state 0A is LISTEN.
                if (f[3] == "0A" && int.Parse(f[1][(f[1].LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port)
                {
                    inodes.Add(f[9]);
                }
            }
        }
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries(Path.Combine(dir, "fd")))
                {
                    if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal) && inodes.Contains(target[8..^1]))
                    {
                        return pid;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return null;
    }
}
