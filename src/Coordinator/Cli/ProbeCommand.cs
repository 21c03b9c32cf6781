using System.CommandLine;
using Activations.Probing;
using Activations.Probing.Input;
using Activations.Probing.Output;
using Activations.Probing.Statistics;
using Activations.ServiceDefaults;

namespace Activations.Coordinator.Cli;

/// <summary>`probe`: linear probes on a folder of activation files, with honest statistics and a report.</summary>
internal static class ProbeCommand
{
    public static Command Build()
    {
        var activations = new Option<string>("--activations") { Description = "Folder with *_activations.pt / *_activations.safetensors files and their manifest.json", Required = true };
        var output = new Option<string?>("--out") { Description = $"Output folder for probes.json, report.html and probe_{{name}}.pt (default: {{activations}}/{ProbeSettings.DefaultOutFolderName})" };
        var folds = new Option<int>("--folds") { Description = $"Outer stratified cross-validation folds (at least {ProbeDesign.MinimumFolds}; each class needs at least this many rows)", DefaultValueFactory = _ => 5 };
        var repeats = new Option<int>("--repeats") { Description = "Repeats of the outer cross-validation, each with a fresh shuffle", DefaultValueFactory = _ => 10 };
        var permutations = new Option<int>("--permutations") { Description = "Label permutations for the p-value; each reruns the whole cross-validation", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed for the folds and permutations: the same seed gives the same numbers", DefaultValueFactory = _ => 0 };
        var command = new Command("probe",
            "Fit an L2 logistic-regression probe per activation file (faithful vs unfaithful), evaluated by nested, repeated, stratified "
            + "cross-validation with a permutation test; writes probes.json, report.html and probe_{name}.pt. Verdicts: " + Verdicts.Rule)
        {
            activations, output, folds, repeats, permutations, seed,
        };
        command.SetAction((parse, cancellation) => ConsoleHost.RunAsync(() =>
        {
            var settings = ProbeSettings.Validate(parse.GetValue(activations)!, parse.GetValue(output), parse.GetValue(folds), parse.GetValue(repeats), parse.GetValue(permutations), parse.GetValue(seed));
            var folder = ActivationFolderReader.Read(settings.Activations, minimumPerClass: settings.Design.Folds);
            foreach (var skipped in folder.Skipped)
            {
                Console.Error.WriteLine($"{skipped}: same hook as its .pt file, read once from the .pt");
            }
            var run = new ProbeRunner(settings, new TerminalProgress()).Run(folder, cancellation);
            ProbeOutputWriter.Write(run);
            foreach (var result in run.Results)
            {
                Console.Out.WriteLine(result.Summary);
            }
            Console.Out.WriteLine($"Wrote {Path.Combine(settings.Out, ProbesJson.FileName)}, {Path.Combine(settings.Out, ReportHtml.FileName)} and {run.Results.Count} probe direction(s)");
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>The permutation test's progress on stderr: one line rewritten in place on a terminal, every 10% otherwise.</summary>
    sealed class TerminalProgress : IProgress<ProbeProgress>
    {
        readonly object gate = new();
        readonly bool interactive = !Console.IsErrorRedirected;
        int lastDecile = -1;
        string lastHook = "";

        public void Report(ProbeProgress value)
        {
            lock (gate)
            {
                if (value.Hook != lastHook)
                {
                    lastHook = value.Hook;
                    lastDecile = -1;
                }
                var line = $"[{value.Index + 1}/{value.Hooks}] {value.Hook}: permutation {value.Done}/{value.Total}";
                if (interactive)
                {
                    Console.Error.Write($"\r{line}   ");
                    if (value.Done == value.Total)
                    {
                        Console.Error.WriteLine();
                    }
                }
                else if (value.Done * 10 / Math.Max(1, value.Total) is var decile && decile > lastDecile)
                {
                    lastDecile = decile;
                    Console.Error.WriteLine(line);
                }
            }
        }
    }
}
