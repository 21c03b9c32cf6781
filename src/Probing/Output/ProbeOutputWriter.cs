using Activations.ServiceDefaults;

namespace Activations.Probing.Output;

/// <summary>Writes a run's files into the output folder, each atomically: the directions, report.html, then probes.json.</summary>
public static class ProbeOutputWriter
{
    public static IReadOnlyList<string> Write(ProbeRun run)
    {
        var folder = run.Settings.Out;
        if (File.Exists(folder))
        {
            throw new Contracts.InvalidInputException(folder, "is a file; the output must be a folder");
        }
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        foreach (var result in run.Results)
        {
            var path = Path.Combine(folder, result.ProbeFileName);
            AtomicFile.Write(path, stream => ProbeDirectionFile.Write(stream, result.Probe.Direction, result.Probe.Bias));
            written.Add(path);
        }
        var report = Path.Combine(folder, ReportHtml.FileName);
        AtomicFile.Write(report, stream => ReportHtml.Write(stream, run));
        written.Add(report);
        // Last, so its presence marks a complete output folder.
        var json = Path.Combine(folder, ProbesJson.FileName);
        AtomicFile.Write(json, stream => ProbesJson.Write(stream, run));
        written.Add(json);
        return written;
    }
}
