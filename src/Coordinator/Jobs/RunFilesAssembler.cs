using System.Diagnostics;
using Activations.Contracts;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Inputs;
using Activations.Coordinator.Store;
using Activations.ServiceDefaults;
using Microsoft.Extensions.Logging;

namespace Activations.Coordinator.Jobs;

/// <summary>What assembly needs from the run beyond the store: the spec, the model, the selection, the start time.</summary>
public sealed record RunAssemblyContext(ValidatedRun Run, CaptureSpec Spec, string ModelFolder, string Fingerprint, SelectedPairs Selection, DateTimeOffset Started);

/// <summary>The `run` command's files: the stored results of a finished job, one file per hook and format, and the manifest.</summary>
public sealed class RunFilesAssembler(ILoggerFactory loggers, StoredResultsReader results)
{
    readonly ILogger logger = loggers.CreateLogger("Activations.Coordinator");

    public async Task<IReadOnlyList<string>> AssembleAsync(RunAssemblyContext context, JobRecord job, IReadOnlyList<QuestionFailureRecord> failures, CancellationToken cancellation)
    {
        var (run, spec) = (context.Run, context.Spec);
        var clock = Stopwatch.StartNew();
        using var span = ActivationsTelemetry.Source.StartActivity("assemble");
        var stored = await results.ReadAsync(job.Id, failures, cancellation);
        var (questions, kept, vectors, requested, workers, tokenCounts) = (stored.Questions, stored.Kept, stored.Vectors, stored.Requested, stored.Workers, stored.TokenCounts);
        var request = new AssemblyRequest(
            requested,
            kept.Where(q => q.Label == "faithful").OrderBy(q => q.Row).Select(q => q.PairId).ToList(),
            kept.Where(q => q.Label == "unfaithful").OrderBy(q => q.Row).Select(q => q.PairId).ToList(),
            vectors,
            ActivationDtypes.ForCompute(spec.Dtype))
        {
            Formats = run.Formats,
            Metadata = new Dictionary<string, string>
            {
                ["pooling"] = OptionNames.Of(spec.Pooling),
                ["bos_policy"] = OptionNames.Of(spec.BosPolicy),
                ["model"] = run.Model.Model,
                ["model_fingerprint"] = context.Fingerprint,
                ["compute_dtype"] = OptionNames.Of(spec.Dtype),
            },
        };
        var assembler = new ActivationAssembler(new ActivationFileWriter(loggers.CreateLogger<ActivationFileWriter>()), loggers.CreateLogger<ActivationAssembler>());
        var files = await assembler.AssembleAndWriteAsync(request, run.Out, () => new Manifest
        {
            ToolVersion = Manifest.CurrentToolVersion,
            Model = new ManifestModel(run.Model.Model, run.Model.Revision, ManifestSources.HubCommitOf(context.ModelFolder), context.Fingerprint),
            Hooks = [.. requested.Select(r => new ManifestHook(r.Hook.Name, r.Width, [.. OutputFormatNames.Extensions(run.Formats).Select(e => r.Hook.FileStem + e)]))],
            Layers = [.. requested.Where(r => r.Hook.Kind == HookKind.ResidPost).Select(r => r.Hook.Layer)],
            Pooling = OptionNames.Of(spec.Pooling),
            BosPolicy = OptionNames.Of(spec.BosPolicy),
            MaxTokens = spec.MaxTokens,
            PromptTemplate = run.Template.IsIdentity ? null : run.Template.Text,
            Dtype = request.Dtype.Name(),
            ComputeDtype = OptionNames.Of(spec.Dtype),
            Device = OptionNames.Of(spec.Device),
            Workers = workers,
            Variant = run.Limits.Variant,
            Caps = new ManifestCaps(run.Limits.MaxFaithful, run.Limits.MaxUnfaithful),
            Inputs = new ManifestInputs(ManifestSources.InputOf(run.Scores), ManifestSources.InputOf(run.Responses)),
            PairIds = new ManifestPairs(request.FaithfulPairIds, request.UnfaithfulPairIds),
            LeftOut = LeftOut(context.Selection, run.Limits, questions, failures),
            TokenCounts = tokenCounts,
            Timings = new ManifestTimings(context.Started, DateTimeOffset.UtcNow, Math.Round((DateTimeOffset.UtcNow - context.Started).TotalSeconds, 3)),
            Files = [.. requested.SelectMany(r => OutputFormatNames.Extensions(run.Formats).Select(e => r.Hook.FileStem + e))],
        }, cancellation);
        logger.LogInformation("Wrote {Count} files to {Out} in {Seconds:F1} s: {Faithful} faithful and {Unfaithful} unfaithful rows per hook, {Dtype}",
            files.Count, run.Out, clock.Elapsed.TotalSeconds, request.FaithfulPairIds.Count, request.UnfaithfulPairIds.Count, request.Dtype.Name());
        return files;
    }

    /// <summary>The pairs of the scores with no row, and why: no response for the variant, over a cap, or failed under --on-failure drop.</summary>
    static List<ManifestLeftOut> LeftOut(SelectedPairs selection, SelectionLimits limits, IReadOnlyList<QuestionRecord> questions, IReadOnlyList<QuestionFailureRecord> failures)
    {
        var leftOut = selection.WithoutResponse.Select(p => new ManifestLeftOut(p, $"no {limits.Variant} response")).ToList();
        leftOut.AddRange(selection.OverCap.Select(p => new ManifestLeftOut(p.PairId, p.Faithful
            ? $"over the cap (max_faithful={limits.MaxFaithful})"
            : $"over the cap (max_unfaithful={limits.MaxUnfaithful})")));
        var pairs = questions.ToDictionary(q => q.QuestionIndex, q => q.PairId);
        leftOut.AddRange(failures.Select(f => new ManifestLeftOut(pairs[f.QuestionIndex], $"could not be captured: {f.Reason}")));
        return leftOut;
    }
}
