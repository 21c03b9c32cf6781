using System.Diagnostics;
using System.Text.Json;

namespace Activations.Probing.Tests;

/// <summary>Runs a script with the system Python (PyTorch 1.13, scikit-learn), JSON in on stdin, stdout back.</summary>
internal static class SystemPython
{
    internal const string Executable = "/usr/bin/python3";

    internal static string Script(string name) => Path.Combine(AppContext.BaseDirectory, "scripts", name);

    internal static string Run(IEnumerable<string> arguments, object? input = null, int timeoutSeconds = 300)
    {
        var start = new ProcessStartInfo(Executable) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            process.StandardInput.Write(JsonSerializer.Serialize(input));
        }
        process.StandardInput.Close();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"python3 {string.Join(' ', arguments)} ran over {timeoutSeconds} s");
        }
        Assert.True(process.ExitCode == 0, $"python3 {string.Join(' ', arguments)} exited {process.ExitCode}: {stderr.Result}");
        return stdout.Result;
    }
}

/// <summary>Made-up activations with a known answer.</summary>
internal static class Synthetic
{
    /// <summary>
    /// Rows of Gaussian noise (N(0, 1) per feature, plus a per-feature offset so raw space is not already standard);
    /// faithful rows are shifted by <paramref name="shift"/> along one random unit direction.
    /// </summary>
    internal static (double[][] Faithful, double[][] Unfaithful, double[] Direction) Planted(int faithful, int unfaithful, int width, double shift, int seed)
    {
        var random = new Random(seed);
        var direction = Enumerable.Range(0, width).Select(_ => Gaussian(random)).ToArray();
        var norm = Math.Sqrt(direction.Sum(v => v * v));
        direction = direction.Select(v => v / norm).ToArray();
        var offset = Enumerable.Range(0, width).Select(_ => 3 * Gaussian(random)).ToArray();
        var scale = Enumerable.Range(0, width).Select(_ => 0.5 + random.NextDouble()).ToArray();
        double[] Row(double along) => Enumerable.Range(0, width).Select(j => offset[j] + scale[j] * Gaussian(random) + along * direction[j]).ToArray();
        var f = Enumerable.Range(0, faithful).Select(_ => Row(shift)).ToArray();
        var u = Enumerable.Range(0, unfaithful).Select(_ => Row(0)).ToArray();
        return (f, u, direction);
    }

    internal static double Gaussian(Random random)
    {
        // Box-Muller
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    internal static (double[][] X, int[] Labels) Stack(double[][] faithful, double[][] unfaithful) =>
        (faithful.Concat(unfaithful).ToArray(), faithful.Select(_ => 1).Concat(unfaithful.Select(_ => 0)).ToArray());

    internal static Statistics.RowMatrix Matrix(double[][] rows) => new(rows.SelectMany(r => r).ToArray(), rows.Length, rows[0].Length);
}

/// <summary>Writes activation folders as the capture does: torch.save zips (float32), safetensors, manifest.json.</summary>
internal static class ActivationFolders
{
    internal static string NewFolder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "probe-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    internal static void WritePt(string path, double[][] faithful, double[][] unfaithful)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var state = new Dictionary<string, TorchSharp.torch.Tensor>();
        if (faithful.Length > 0)
        {
            state["faithful"] = Float32(faithful);
        }
        if (unfaithful.Length > 0)
        {
            state["unfaithful"] = Float32(unfaithful);
        }
        using var stream = File.Create(path);
        TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(stream, state);
    }

    static TorchSharp.torch.Tensor Float32(double[][] rows) =>
        TorchSharp.torch.tensor(rows.SelectMany(r => r.Select(v => (float)v)).ToArray(), [rows.Length, rows[0].Length]);

    /// <summary>The safetensors layout: 8-byte little-endian header length, the JSON header, then the raw data.</summary>
    internal static void WriteSafetensors(string path, double[][] faithful, double[][] unfaithful)
    {
        var f = faithful.SelectMany(r => r.Select(v => (float)v)).SelectMany(BitConverter.GetBytes).ToArray();
        var u = unfaithful.SelectMany(r => r.Select(v => (float)v)).SelectMany(BitConverter.GetBytes).ToArray();
        var header = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["faithful"] = new { dtype = "F32", shape = new[] { faithful.Length, faithful[0].Length }, data_offsets = new[] { 0, f.Length } },
            ["unfaithful"] = new { dtype = "F32", shape = new[] { unfaithful.Length, unfaithful[0].Length }, data_offsets = new[] { f.Length, f.Length + u.Length } },
            ["__metadata__"] = new { hook = "from-test" },
        });
        var headerBytes = System.Text.Encoding.UTF8.GetBytes(header);
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((ulong)headerBytes.Length));
        stream.Write(headerBytes);
        stream.Write(f);
        stream.Write(u);
    }

    internal static void WriteManifest(string folder, int faithful, int unfaithful, object? hooks = null)
    {
        var manifest = new Dictionary<string, object?>
        {
            ["tool_version"] = "test",
            ["model"] = new { id = "test/planted", revision = (string?)null },
            ["pooling"] = "mean",
            ["bos_policy"] = "no-bos",
            ["dtype"] = "float32",
            ["pair_ids"] = new { faithful = Enumerable.Range(0, faithful).Select(i => $"f{i}"), unfaithful = Enumerable.Range(0, unfaithful).Select(i => $"u{i}") },
            ["some_future_field"] = new { nested = true },
        };
        if (hooks is not null)
        {
            manifest["hooks"] = hooks;
        }
        File.WriteAllText(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(manifest));
    }
}
