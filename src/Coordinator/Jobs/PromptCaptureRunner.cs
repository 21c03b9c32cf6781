using System.Diagnostics;
using Activations.Contracts;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Inputs;
using Activations.Coordinator.Store;
using Activations.ServiceDefaults;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Activations.Coordinator.Jobs;

/// <summary>
/// One run of the `capture` command: the prompt file → the shared job machinery of <see cref="JobRunner"/> (store,
/// publishing, waiting, resume, failure policy) → per hook one <c>{hook}.pt</c> holding <c>activations</c> [n, d] in
/// file order (and <c>activations.{label}</c> per label value with --label-field), and <c>manifest.json</c> with the
/// ids and labels in row order. Labels are not stored: they come from the file, whose hash is in the job key.
/// </summary>
public sealed class PromptCaptureRunner(ILoggerFactory loggers, JobRunner jobs, StoredResultsReader results)
{
    /// <summary>The key of the [n, d] tensor of every row in each file.</summary>
    public const string ActivationsKey = "activations";

    readonly ILogger logger = loggers.CreateLogger("Activations.Coordinator");

    /// <summary>The key of one label's rows: <c>activations.{label}</c>.</summary>
    public static string LabelKey(string label) => $"{ActivationsKey}.{label}";

    /// <summary>The file stem of a hook's files: its TransformerLens name.</summary>
    public static string FileStem(HookPoint hook) => hook.Name;

    public async Task<JobOutcome> RunAsync(ValidatedCapture run, CancellationToken cancellation)
    {
        var started = DateTimeOffset.UtcNow;
        using var jobSpan = ActivationsTelemetry.Source.StartActivity("job", ActivityKind.Internal);
        IReadOnlyList<PromptRow> prompts;
        using (ActivationsTelemetry.Source.StartActivity("read inputs"))
        {
            prompts = new PromptFileReader().Read(run.Prompts, run.Fields);
        }
        var input = ManifestSources.InputOf(run.Prompts);
        logger.LogInformation("Read {Count} prompts from {Path}{Labels}", prompts.Count, run.Prompts,
            run.Fields.Label is null ? "" : $" with labels {string.Join(", ", Labels(prompts).Select(l => $"{l} ({prompts.Count(p => p.Label == l)})"))}");
        // Labels are not stored per question: the file's hash, in the key, fixes them.
        var questions = prompts.Select((p, row) => new QuestionRecord { QuestionIndex = row, PairId = p.Id, Label = "", Row = row, Text = run.Template.Apply(p.Text) }).ToList();
        var inputs = new { command = "capture", prompts_sha256 = input.Sha256, text_field = run.Fields.Text, id_field = run.Fields.Id, label_field = run.Fields.Label, template = run.Template.Text };
        var captured = await jobs.CaptureAsync(run, questions, inputs, jobSpan, cancellation);
        var files = await AssembleAsync(run, captured, prompts, input, started, cancellation);
        return await jobs.CompleteAsync(captured, files, cancellation);
    }

    static List<string> Labels(IEnumerable<PromptRow> rows) => [.. rows.Where(r => r.Label is not null).Select(r => r.Label!).Distinct()];

    async Task<IReadOnlyList<string>> AssembleAsync(ValidatedCapture run, CapturedJob captured, IReadOnlyList<PromptRow> prompts, ManifestInput input, DateTimeOffset started, CancellationToken cancellation)
    {
        using var span = ActivationsTelemetry.Source.StartActivity("assemble");
        var spec = captured.Spec;
        var stored = await results.ReadAsync(captured.Job.Id, captured.Failures, cancellation);
        var keptIds = stored.Kept.Select(q => q.PairId).ToHashSet(StringComparer.Ordinal);
        var rows = prompts.Where(p => keptIds.Contains(p.Id)).ToList(); // file order
        if (rows.Count == 0)
        {
            throw new JobFailedException("no prompt could be captured, so no file was written");
        }
        var labels = Labels(rows);
        var dtype = ActivationDtypes.ForCompute(spec.Dtype);
        // The checking pass, from the vectors' lengths alone: every hook is checked before any file is written, so a
        // bad hook leaves nothing behind.
        var layout = new HookRows("prompt", rows.Select(r => r.Id).ToList());
        var (held, lengths) = await layout.LengthsAsync(stored.Vectors, stored.Requested.Select(r => r.Hook), cancellation);
        foreach (var hook in held)
        {
            ActivationContract.CheckRequested(hook, stored.Requested);
        }
        foreach (var hook in stored.Requested)
        {
            CheckLengths(rows, hook, lengths[hook.Hook][0]);
        }
        var metadata = new Dictionary<string, string>
        {
            ["pooling"] = OptionNames.Of(spec.Pooling),
            ["bos_policy"] = OptionNames.Of(spec.BosPolicy),
            ["model"] = run.Model.Model,
            ["model_fingerprint"] = captured.Fingerprint,
            ["compute_dtype"] = OptionNames.Of(spec.Dtype),
            ["prompt_template"] = run.Template.Text,
        };
        var writer = new ActivationFileWriter(loggers.CreateLogger<ActivationFileWriter>());
        var extensions = OutputFormatNames.Extensions(run.Formats);

        // Then one hook at a time: read into one preallocated tensor, written, released before the next.
        var written = new List<string>();
        foreach (var hook in stored.Requested)
        {
            var tensors = new List<(string Name, Tensor Tensor)>();
            try
            {
                var all = (await layout.ReadAsync(stored.Vectors, hook.Hook, hook.Width, cancellation))[0];
                tensors.Add((ActivationsKey, all));
                if (dtype != ActivationDtype.Float32)
                {
                    tensors[0] = (ActivationsKey, all.to_type(dtype.ToScalarType(), copy: true));
                    all.Dispose();
                    all = tensors[0].Tensor;
                }
                foreach (var label in labels)
                {
                    var indices = rows.Select((r, i) => (r, i)).Where(x => x.r.Label == label).Select(x => (long)x.i).ToArray();
                    using var index = tensor(indices, ScalarType.Int64);
                    tensors.Add((LabelKey(label), all.index_select(0, index)));
                }
                foreach (var extension in extensions)
                {
                    var path = Path.Combine(run.Out, FileStem(hook.Hook) + extension);
                    if (extension == ".pt")
                    {
                        written.Add(writer.WriteDict(path, tensors));
                    }
                    else
                    {
                        SafetensorsFileWriter.Write(path, tensors, new Dictionary<string, string>(metadata) { ["hook"] = hook.Hook.Name });
                        written.Add(path);
                    }
                }
            }
            finally
            {
                tensors.ForEach(t => t.Tensor.Dispose());
            }
        }

        var failures = captured.Failures;
        var idOf = stored.Questions.ToDictionary(q => q.QuestionIndex, q => q.PairId);
        var manifest = new CaptureManifest
        {
            ToolVersion = Manifest.CurrentToolVersion,
            Model = new ManifestModel(run.Model.Model, run.Model.Revision, ManifestSources.HubCommitOf(captured.ModelFolder), captured.Fingerprint),
            Hooks = [.. stored.Requested.Select(r => new ManifestHook(r.Hook.Name, r.Width, [.. extensions.Select(e => FileStem(r.Hook) + e)]))],
            Pooling = OptionNames.Of(spec.Pooling),
            BosPolicy = OptionNames.Of(spec.BosPolicy),
            MaxTokens = spec.MaxTokens,
            PromptTemplate = run.Template.IsIdentity ? null : run.Template.Text,
            Dtype = dtype.Name(),
            ComputeDtype = OptionNames.Of(spec.Dtype),
            Device = OptionNames.Of(spec.Device),
            Workers = stored.Workers,
            Input = input,
            Fields = new CaptureManifestFields(run.Fields.Text, run.Fields.Id, run.Fields.Label),
            Ids = [.. rows.Select(r => r.Id)],
            Labels = run.Fields.Label is null ? null : [.. rows.Select(r => r.Label!)],
            LabelRows = run.Fields.Label is null ? null : labels.ToDictionary(l => l, l => (IReadOnlyList<string>)[.. rows.Where(r => r.Label == l).Select(r => r.Id)]),
            LeftOut = [.. failures.Select(f => new CaptureManifestLeftOut(idOf[f.QuestionIndex], $"could not be captured: {f.Reason}"))],
            TokenCounts = stored.TokenCounts,
            Timings = new ManifestTimings(started, DateTimeOffset.UtcNow, Math.Round((DateTimeOffset.UtcNow - started).TotalSeconds, 3)),
            Files = [.. stored.Requested.SelectMany(r => extensions.Select(e => FileStem(r.Hook) + e))],
        };
        written.Add(ManifestFile.Write(run.Out, manifest));
        logger.LogInformation("Wrote {Count} files to {Out}: {Rows} rows per hook{Labels}, {Dtype}", written.Count, run.Out, rows.Count,
            labels.Count == 0 ? "" : $" ({string.Join(", ", labels.Select(l => $"{l}: {rows.Count(r => r.Label == l)}"))})", dtype.Name());
        return written;
    }

    /// <summary>Every row has a vector at <paramref name="hook"/>, of the width the job expects: else a contract violation.</summary>
    static void CheckLengths(IReadOnlyList<PromptRow> rows, RequestedHook hook, int[] lengths)
    {
        for (var row = 0; row < rows.Count; row++)
        {
            if (lengths[row] < 0)
            {
                throw new ContractViolationException(ContractCheck.MissingHook, hook.Hook, $"prompt '{rows[row].Id}' has no vector for it");
            }
            if (lengths[row] != hook.Width)
            {
                throw new ContractViolationException(ContractCheck.ExpectedWidth, hook.Hook, $"prompt '{rows[row].Id}' has {lengths[row]} values, the job expects {hook.Width}");
            }
        }
    }
}
