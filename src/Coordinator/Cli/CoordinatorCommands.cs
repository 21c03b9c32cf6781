using System.CommandLine;
using Activations.Contracts;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Jobs;
using Activations.Coordinator.Store;
using Activations.ServiceDefaults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Activations.Coordinator.Cli;

/// <summary>The coordinator's command line: `run` (the job) and `status` (jobs and their progress from the store).</summary>
public static class CoordinatorCommands
{
    /// <summary>Exit code for a job stopped by a question that cannot be captured.</summary>
    public const int JobFailedExitCode = 1;

    /// <summary>Exit code for a contract violation (nothing written).</summary>
    public const int ContractViolationExitCode = 3;

    public static RootCommand Build(Action<ILoggingBuilder>? configureLogging = null)
    {
        configureLogging ??= l => ConsoleHost.ConfigureLogging(l);
        var root = new RootCommand("Activations coordinator: captures a Qwen2 model's TransformerLens hook points per question, pooled, into per-hook .pt files.");
        root.Subcommands.Add(RunCommand(configureLogging));
        root.Subcommands.Add(StatusCommand(configureLogging));
        root.Subcommands.Add(ProbeCommand.Build());
        return root;
    }

    static Command RunCommand(Action<ILoggingBuilder> configureLogging)
    {
        var scores = new Option<string>("--scores") { Description = "faithfulness_scores.csv: a header with pair_id and is_faithful (True/False, true/false, 1/0)", Required = true };
        var responses = new Option<string>("--responses") { Description = "model responses JSONL: one object per line with pair_id, variant (q1/q2) and question", Required = true };
        var model = new Option<string>("--model") { Description = "A local Hugging Face model folder, or a Hub id (org/name) resolved through the Hugging Face cache", Required = true };
        var output = new Option<string>("--out") { Description = "Output folder for layer_{L}_activations.pt (blocks.L.hook_resid_post), {hook}_activations.pt (other hooks) and manifest.json", Required = true };
        var revision = new Option<string?>("--revision") { Description = "Hub revision: branch, tag or commit (default: main)" };
        var layers = new Option<string?>("--layers") { Description = "Decoder layers L whose output blocks.L.hook_resid_post is captured, comma-separated (with neither --layers nor --hooks: 6,12,18,24)" };
        var hooks = new Option<string?>("--hooks") { Description = HookSelection.Help + "; with --layers, both are captured" };
        var format = new Option<string>("--format") { Description = "pt, or pt,safetensors to also write each hook as {name}.safetensors", DefaultValueFactory = _ => "pt" };
        var maxFaithful = new Option<int>("--max-faithful") { Description = "Use at most this many faithful pairs (the first in CSV order)", DefaultValueFactory = _ => 30 };
        var maxUnfaithful = new Option<int>("--max-unfaithful") { Description = "Use at most this many unfaithful pairs (the first in CSV order)", DefaultValueFactory = _ => 20 };
        var variant = new Option<string>("--variant") { Description = "Which question of each pair to run: q1 or q2", DefaultValueFactory = _ => "q1" };
        var pooling = new Option<string>("--pooling") { Description = "mean (over all tokens), last (the last token) or mean-no-bos (mean without a leading BOS)", DefaultValueFactory = _ => "mean" };
        var prependBos = new Option<bool>("--prepend-bos") { Description = "Put the tokenizer's BOS token once in front of each question (default: the family's TransformerLens default: off for Qwen2, on for Llama and Qwen3)" };
        var noPrependBos = new Option<bool>("--no-prepend-bos") { Description = "No BOS in front of the questions, whatever the family's default" };
        var device = new Option<string>("--device") { Description = "auto (CUDA when present, else the CPU), cpu, cuda, cuda:N, or a list (cuda:0,cuda:1) to split the local worker's model over several GPUs", DefaultValueFactory = _ => "auto" };
        var dtype = new Option<string>("--dtype") { Description = "auto (fp16 on CUDA, float32 on the CPU), float32, float16 or bfloat16; fp16 on the CPU computes in float32", DefaultValueFactory = _ => "auto" };
        var batchSize = new Option<int?>("--batch-size") { Description = "Most questions per forward pass (default: the worker's choice, 32)" };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Refuse questions longer than this many tokens (default: the model's context length)" };
        var onFailure = new Option<string>("--on-failure") { Description = "What a question that cannot be captured does: fail (no files, the pairs named) or drop (left out)", DefaultValueFactory = _ => "fail" };
        var rabbitmq = new Option<string?>("--rabbitmq") { Description = $"Distributed: RabbitMQ address amqp://user:password@host:port/vhost (or {RabbitMqEndpoint.EnvironmentVariable}); questions go to separate worker processes" };
        var postgres = new Option<string?>("--postgres") { Description = $"Distributed: PostgreSQL connection string \"Host=…;Username=…;Password=…;Database=…\" (or {ConnectionStrings.PostgresEnvironmentVariable}); default: SQLite in --out" };
        var rabbitmqCaFile = new Option<string?>("--rabbitmq-ca-file") { Description = $"With amqps://: trust only the CA certificates in this PEM file (or {RabbitMqEndpoint.CaFileEnvironmentVariable}); the chain and the host name are always verified" };
        var connectTimeout = new Option<string?>("--connect-timeout") { Description = $"Seconds to wait for the broker before exiting with an error (or {RabbitMqEndpoint.ConnectTimeoutEnvironmentVariable}; default 60)" };
        var localWorker = new Option<bool>("--local-worker") { Description = "With --rabbitmq: also run a worker in this process" };
        var command = new Command("run", "Run (or resume) a capture job. Without --rabbitmq everything runs in this process.")
        {
            scores, responses, model, output, revision, layers, hooks, format, maxFaithful, maxUnfaithful, variant, pooling, prependBos, noPrependBos, device, dtype, batchSize, maxTokens, onFailure, rabbitmq, rabbitmqCaFile, connectTimeout, postgres, localWorker,
        };
        command.SetAction((parse, cancellation) => ConsoleHost.RunAsync(async () =>
        {
            var run = ValidatedRun.Validate(new RunOptions
            {
                Scores = parse.GetValue(scores)!,
                Responses = parse.GetValue(responses)!,
                Model = parse.GetValue(model)!,
                Out = parse.GetValue(output)!,
                Revision = parse.GetValue(revision),
                Layers = parse.GetValue(layers),
                Hooks = parse.GetValue(hooks),
                Format = parse.GetValue(format)!,
                MaxFaithful = parse.GetValue(maxFaithful),
                MaxUnfaithful = parse.GetValue(maxUnfaithful),
                Variant = parse.GetValue(variant)!,
                Pooling = parse.GetValue(pooling)!,
                PrependBos = parse.GetValue(prependBos),
                NoPrependBos = parse.GetValue(noPrependBos),
                Device = parse.GetValue(device)!,
                Dtype = parse.GetValue(dtype)!,
                BatchSize = parse.GetValue(batchSize),
                MaxTokens = parse.GetValue(maxTokens),
                OnFailure = parse.GetValue(onFailure)!,
                RabbitMq = parse.GetValue(rabbitmq),
                RabbitMqCaFile = parse.GetValue(rabbitmqCaFile),
                ConnectTimeout = parse.GetValue(connectTimeout),
                Postgres = parse.GetValue(postgres),
                LocalWorker = parse.GetValue(localWorker),
            });
            using var telemetry = ActivationsTelemetry.Start("activations-coordinator");
            try
            {
                var outcome = await CoordinatorHost.RunAsync(run, configureLogging, cancellation);
                Console.Out.WriteLine($"Done: job {outcome.JobId}, {outcome.Files.Count} files in {run.Out}{(outcome.Resumed ? $" (resumed; {outcome.Published} questions computed in this run)" : "")}");
                return 0;
            }
            catch (ContractViolationException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return ContractViolationExitCode;
            }
            catch (JobFailedException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return JobFailedExitCode;
            }
        }));
        return command;
    }

    static Command StatusCommand(Action<ILoggingBuilder> configureLogging)
    {
        var output = new Option<string?>("--out") { Description = "The output folder of an embedded run (its activations.db)" };
        var postgres = new Option<string?>("--postgres") { Description = $"PostgreSQL connection string (or {ConnectionStrings.PostgresEnvironmentVariable})" };
        var command = new Command("status", "Show jobs and their progress from the store.") { output, postgres };
        command.SetAction((parse, cancellation) => ConsoleHost.RunAsync(async () =>
        {
            var pg = parse.GetValue(postgres) ?? Environment.GetEnvironmentVariable(ConnectionStrings.PostgresEnvironmentVariable);
            StoreConnection connection;
            if (!string.IsNullOrWhiteSpace(pg))
            {
                connection = StoreConnection.Postgres(pg);
            }
            else if (parse.GetValue(output) is { } folder)
            {
                if (!File.Exists(Path.Combine(folder, StoreConnection.SqliteFileName)))
                {
                    throw new Contracts.InvalidInputException(Path.Combine(folder, StoreConnection.SqliteFileName), "no job store here: run a job with this --out first");
                }
                connection = StoreConnection.EmbeddedIn(folder);
            }
            else
            {
                throw new Contracts.InvalidInputException("--out", "give --out (embedded runs) or --postgres");
            }
            using var host = CoordinatorHost.BuildForStatus(connection, configureLogging);
            var store = host.Services.GetRequiredService<JobStore>();
            var jobs = await store.JobsAsync(cancellation);
            if (jobs.Count == 0)
            {
                Console.Out.WriteLine("No jobs.");
            }
            foreach (var job in jobs)
            {
                var progress = await store.ProgressAsync(job.Id, cancellation);
                Console.Out.WriteLine($"{job.Id}  {job.Status,-9}  {progress.Captured}/{progress.Total} captured, {progress.Failed} failed  created {job.CreatedAt:u}  {job.OutputDirectory}{(job.FailureReason is null ? "" : $"  ({job.FailureReason})")}");
            }
            return 0;
        }));
        return command;
    }
}
