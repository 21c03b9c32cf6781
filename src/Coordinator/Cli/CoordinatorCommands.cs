using System.CommandLine;
using Activations.Contracts;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Jobs;
using Activations.Coordinator.Store;
using Activations.ServiceDefaults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Activations.Coordinator.Cli;

/// <summary>The coordinator's command line: `run` (the study's job), `capture` (any prompt file) and `status` (jobs and their progress from the store).</summary>
public static class CoordinatorCommands
{
    /// <summary>Exit code for a job stopped by a question that cannot be captured.</summary>
    public const int JobFailedExitCode = 1;

    /// <summary>Exit code for a contract violation (nothing written).</summary>
    public const int ContractViolationExitCode = 3;

    /// <summary>Exit code for a job that received no result for --stall-timeout seconds.</summary>
    public const int StalledExitCode = 4;

    public static RootCommand Build(Action<ILoggingBuilder>? configureLogging = null)
    {
        configureLogging ??= l => ConsoleHost.ConfigureLogging(l);
        var root = new RootCommand("Activations coordinator: captures a Qwen2 model's TransformerLens hook points per question, pooled, into per-hook .pt files.");
        root.Subcommands.Add(RunCommand(configureLogging));
        root.Subcommands.Add(CaptureCommand(configureLogging));
        root.Subcommands.Add(StatusCommand(configureLogging));
        root.Subcommands.Add(ProbeCommand.Build());
        return root;
    }

    static Command RunCommand(Action<ILoggingBuilder> configureLogging)
    {
        var scores = new Option<string>("--scores") { Description = "faithfulness_scores.csv: a header with pair_id and is_faithful (True/False, true/false, 1/0)", Required = true };
        var responses = new Option<string>("--responses") { Description = "model responses JSONL: one object per line with pair_id, variant (q1/q2) and question", Required = true };
        var maxFaithful = new Option<int>("--max-faithful") { Description = "Use at most this many faithful pairs (the first in CSV order)", DefaultValueFactory = _ => 30 };
        var maxUnfaithful = new Option<int>("--max-unfaithful") { Description = "Use at most this many unfaithful pairs (the first in CSV order)", DefaultValueFactory = _ => 20 };
        var variant = new Option<string>("--variant") { Description = "Which question of each pair to run: q1 or q2", DefaultValueFactory = _ => "q1" };
        var shared = new JobOptionSet("Output folder for layer_{L}_activations.pt (blocks.L.hook_resid_post), {hook}_activations.pt (other hooks) and manifest.json");
        var command = new Command("run", "Run (or resume) the study's capture job: faithful and unfaithful questions into per-hook .pt files. Without --rabbitmq everything runs in this process.")
        {
            scores, responses, maxFaithful, maxUnfaithful, variant,
        };
        shared.AddTo(command);
        command.SetAction((parse, cancellation) => ConsoleHost.RunAsync(async () =>
        {
            var run = ValidatedRun.Validate(shared.Read(parse, new RunOptions
            {
                Scores = parse.GetValue(scores)!,
                Responses = parse.GetValue(responses)!,
                MaxFaithful = parse.GetValue(maxFaithful),
                MaxUnfaithful = parse.GetValue(maxUnfaithful),
                Variant = parse.GetValue(variant)!,
                Model = "",
                Out = "",
            }));
            return await RunJobAsync(run, () => CoordinatorHost.RunAsync(run, configureLogging, cancellation));
        }));
        return command;
    }

    static Command CaptureCommand(Action<ILoggingBuilder> configureLogging)
    {
        var prompts = new Option<string>("--prompts") { Description = "The prompts: a JSONL file (one object per line) or a CSV file with a header; by extension (.jsonl, .csv), else by content", Required = true };
        var textField = new Option<string>("--text-field") { Description = "The field (JSON key or CSV column) holding each prompt's text", DefaultValueFactory = _ => "question" };
        var idField = new Option<string>("--id-field") { Description = "The field holding each prompt's id (unique)", DefaultValueFactory = _ => "id" };
        var labelField = new Option<string?>("--label-field") { Description = "A field holding each prompt's label: each file then also holds activations.{label} per label value" };
        var shared = new JobOptionSet("Output folder for {hook}.pt (activations [n, d] in file order, activations.{label} per label) and manifest.json (ids and labels in row order)");
        var command = new Command("capture", "Capture (or resume) the hook points of any prompt file, in file order. Without --rabbitmq everything runs in this process.")
        {
            prompts, textField, idField, labelField,
        };
        shared.AddTo(command);
        command.SetAction((parse, cancellation) => ConsoleHost.RunAsync(async () =>
        {
            var capture = ValidatedCapture.Validate(shared.Read(parse, new CaptureOptions
            {
                Prompts = parse.GetValue(prompts)!,
                TextField = parse.GetValue(textField)!,
                IdField = parse.GetValue(idField)!,
                LabelField = parse.GetValue(labelField),
                Model = "",
                Out = "",
            }));
            return await RunJobAsync(capture, () => CoordinatorHost.CaptureAsync(capture, configureLogging, cancellation));
        }));
        return command;
    }

    /// <summary>Runs a validated job and turns how it ended into the exit code and one line.</summary>
    static async Task<int> RunJobAsync(ValidatedJob job, Func<Task<JobOutcome>> run)
    {
        using var telemetry = ActivationsTelemetry.Start("activations-coordinator");
        try
        {
            var outcome = await run();
            Console.Out.WriteLine($"Done: job {outcome.JobId}, {outcome.Files.Count} files in {job.Out}{(outcome.Resumed ? $" (resumed; {outcome.Published} questions computed in this run)" : "")}");
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
        catch (JobStalledException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return StalledExitCode;
        }
    }

    static Command StatusCommand(Action<ILoggingBuilder> configureLogging)
    {
        var output = new Option<string?>("--out") { Description = "The output folder of an embedded run (its activations.db)" };
        var postgres = new Option<string?>("--postgres") { Description = $"PostgreSQL connection string (or {ConnectionStrings.PostgresEnvironmentVariable})" };
        var rabbitmq = new Option<string?>("--rabbitmq") { Description = $"RabbitMQ address (or {RabbitMqEndpoint.EnvironmentVariable}): also show each job's question queue, its waiting questions and consumers" };
        var command = new Command("status", "Show jobs and their progress from the store.") { output, postgres, rabbitmq };
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
            var brokerAddress = parse.GetValue(rabbitmq) ?? Environment.GetEnvironmentVariable(RabbitMqEndpoint.EnvironmentVariable);
            await using var queues = string.IsNullOrWhiteSpace(brokerAddress) ? null : new Messaging.QuestionQueueWatch(RabbitMqEndpoint.Parse(brokerAddress), host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Activations.Coordinator"));
            if (jobs.Count == 0)
            {
                Console.Out.WriteLine("No jobs.");
            }
            foreach (var job in jobs)
            {
                var progress = await store.ProgressAsync(job.Id, cancellation);
                Console.Out.WriteLine($"{job.Id}  {job.Status,-9}  {progress.Captured}/{progress.Total} captured, {progress.Failed} failed  created {job.CreatedAt:u}  {job.OutputDirectory}{(job.FailureReason is null ? "" : $"  ({job.FailureReason})")}");
                if (queues is not null)
                {
                    var queue = Contracts.Messages.QueueNames.CaptureQuestions(job.ModelFingerprint);
                    var state = await queues.StateAsync(queue, cancellation);
                    Console.Out.WriteLine(state is null
                        ? $"    queue {queue}: not found (or the broker cannot be reached)"
                        : $"    queue {queue}: {state.Waiting} waiting, {state.Consumers} consumer(s)");
                }
            }
            return 0;
        }));
        return command;
    }
}
