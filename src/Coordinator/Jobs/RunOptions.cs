using Activations.Contracts;
using Activations.Coordinator.Assembly;
using Activations.Coordinator.Inputs;
using Activations.Worker.Loading;
using Activations.ServiceDefaults;
using Activations.Worker.Capture;
using Activations.Worker.Model;

namespace Activations.Coordinator.Jobs;

/// <summary>What a question that cannot be captured does to the job.</summary>
public enum FailurePolicy
{
    /// <summary>The job stops without writing files and names the pairs.</summary>
    Fail,
    /// <summary>The pairs are left out of the tensors (and named in the log and manifest).</summary>
    Drop,
}

/// <summary>The options `run` and `capture` share, as typed, before validation.</summary>
public record JobOptions
{
    public required string Model { get; init; }
    public required string Out { get; init; }
    public string? Revision { get; init; }
    /// <summary>--layers as typed; null: not given.</summary>
    public string? Layers { get; init; }
    /// <summary>--hooks as typed; null: not given.</summary>
    public string? Hooks { get; init; }
    public string Format { get; init; } = "pt";
    public string Pooling { get; init; } = "mean";
    public bool PrependBos { get; init; }
    public bool NoPrependBos { get; init; }
    public string Device { get; init; } = "auto";
    public string Dtype { get; init; } = "auto";
    public int? BatchSize { get; init; }
    public int? MaxTokens { get; init; } = CaptureSpec.DefaultMaxTokens;
    /// <summary>--prompt-template as typed; null: each text as it is.</summary>
    public string? PromptTemplate { get; init; }
    public string? RabbitMq { get; init; }
    public string? RabbitMqCaFile { get; init; }
    public string? ConnectTimeout { get; init; }
    public string? Postgres { get; init; }
    public bool LocalWorker { get; init; }
    public string OnFailure { get; init; } = "fail";
    /// <summary>Seconds without a result after which the job fails (exit 4); null: wait as long as it takes.</summary>
    public int? StallTimeout { get; init; }
    /// <summary>Keep the failures a previous run recorded instead of computing those questions again.</summary>
    public bool KeepFailures { get; init; }

    /// <summary>The options with the broker address and the connection string masked (sealed: every command's options print the same way).</summary>
    public sealed override string ToString() => Redacted.Describe(this);
}

/// <summary>The `run` command's options as typed, before validation.</summary>
public sealed record RunOptions : JobOptions
{
    public required string Scores { get; init; }
    public required string Responses { get; init; }
    public int MaxFaithful { get; init; } = SelectionLimits.DefaultMaxFaithful;
    public int MaxUnfaithful { get; init; } = SelectionLimits.DefaultMaxUnfaithful;
    public string Variant { get; init; } = SelectionLimits.DefaultVariant;
}

/// <summary>
/// What the capture asks for before the model is known: the hooks as read from --hooks/--layers, and the options that
/// go into the <see cref="CaptureSpec"/> once the model's depth, family and the device are known (see <see cref="SpecFor"/>).
/// </summary>
/// <param name="BosPolicy">--prepend-bos (bos) or --no-prepend-bos (no-bos); null: the model family's default</param>
public sealed record CaptureRequest(HookSelection Hooks, Pooling Pooling, BosPolicy? BosPolicy, int? MaxTokens, ComputeDevice Device, ComputeDtype Dtype)
{
    /// <summary>
    /// The job's capture spec for a model of <paramref name="family"/> with <paramref name="layerCount"/> layers
    /// (<paramref name="source"/>), with the device kind and dtype as resolved and the BOS policy as asked or, when not
    /// asked, the family's TransformerLens default; validated by <see cref="CaptureSpec.Validate"/>, the one place.
    /// </summary>
    public CaptureSpec SpecFor(int layerCount, string source, ComputeDevice resolvedDevice, ComputeDtype resolvedDtype, ModelFamily family) => new CaptureSpec
    {
        Hooks = Hooks.Resolve(layerCount, source),
        Pooling = Pooling,
        BosPolicy = BosPolicy ?? family.DefaultBosPolicy(),
        MaxTokens = MaxTokens,
        Device = resolvedDevice,
        Dtype = resolvedDtype,
    }.Validate(layerCount, source);
}

/// <summary>
/// What every capture job needs, every parameter checked: the model, the capture, the formats, the output folder, the
/// template, the bus and store, the failure policy. Built only by <see cref="Validate"/>; `run` and `capture` add their inputs.
/// </summary>
public record ValidatedJob(
    ModelRequest Model,
    CaptureRequest Capture,
    OutputFormats Formats,
    string Out,
    int? BatchSize,
    RabbitMqEndpoint? Broker,
    string? Postgres,
    bool LocalWorker,
    FailurePolicy OnFailure,
    DeviceRequest? Devices = null,
    TimeSpan? StallTimeout = null,
    bool KeepFailures = false)
{
    /// <summary>The local worker's devices: --device's list when one was given, else the resolved kind.</summary>
    public DeviceRequest LocalDevices(ComputeDevice resolved) => Devices is { Entries.Count: > 0 } list ? list : DeviceRequest.Of(resolved);

    /// <summary>Wraps each text before it is tokenised; <see cref="PromptTemplate.Identity"/> when none was given.</summary>
    public PromptTemplate Template { get; init; } = PromptTemplate.Identity;

    /// <summary>Whether this process runs a worker of its own (always without a broker).</summary>
    public bool RunsLocalWorker => Broker is null || LocalWorker;

    /// <summary>How long to wait for the broker and the database before exiting with an error.</summary>
    public TimeSpan ConnectTimeout { get; init; } = RabbitMqEndpoint.DefaultConnectTimeout;

    /// <summary>The job with the connection string masked (sealed: `run` and `capture` print the same way).</summary>
    public sealed override string ToString() => Redacted.Describe(this);

    /// <summary>One validation step for every shared parameter, for embedded and distributed jobs alike.</summary>
    public static ValidatedJob Validate(JobOptions options)
    {
        var hooks = HookSelection.Parse(options.Hooks, options.Layers);
        var formats = OutputFormatNames.Parse(options.Format);
        var pooling = OptionNames.ParsePooling(options.Pooling);
        var devices = DeviceRequest.Parse(options.Device);
        var dtype = OptionNames.ParseDtype(options.Dtype);
        // The CPU's bf16 override (ACTIVATIONS_CPU_BF16) is read, and refused if unknown, with the options, before anything is written.
        _ = CpuFeatures.Current;
        var template = PromptTemplate.Parse(options.PromptTemplate);
        if (options.BatchSize is < 1)
        {
            throw new InvalidInputException("--batch-size", "must be at least 1");
        }
        if (options.StallTimeout is < 1)
        {
            throw new InvalidInputException("--stall-timeout", $"must be at least 1 second (got {options.StallTimeout})");
        }
        var onFailure = options.OnFailure.Trim().ToLowerInvariant() switch
        {
            "fail" => FailurePolicy.Fail,
            "drop" => FailurePolicy.Drop,
            _ => throw new InvalidInputException("--on-failure", $"unknown policy '{options.OnFailure}': use fail or drop"),
        };
        if (string.IsNullOrWhiteSpace(options.Model))
        {
            throw new InvalidInputException("--model", "no model was given");
        }
        if (options.PrependBos && options.NoPrependBos)
        {
            throw new InvalidInputException("--prepend-bos", "--prepend-bos and --no-prepend-bos contradict each other: give one");
        }
        BosPolicy? bos = options.PrependBos ? BosPolicy.Bos : options.NoPrependBos ? BosPolicy.NoBos : null;
        var capture = new CaptureRequest(hooks, pooling, bos, options.MaxTokens, devices.Kind, dtype);
        var postgres = options.Postgres ?? Environment.GetEnvironmentVariable(ConnectionStrings.PostgresEnvironmentVariable);
        return new ValidatedJob(
            new ModelRequest(options.Model, options.Revision),
            capture,
            formats,
            options.Out,
            options.BatchSize,
            RabbitMqEndpoint.Resolve(options.RabbitMq, options.RabbitMqCaFile, options.ConnectTimeout),
            string.IsNullOrWhiteSpace(postgres) ? null : postgres,
            options.LocalWorker,
            onFailure,
            devices,
            options.StallTimeout is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            options.KeepFailures)
        {
            Template = template,
            ConnectTimeout = RabbitMqEndpoint.ParseConnectTimeout(options.ConnectTimeout),
        };
    }
}

/// <summary>A `run` whose every parameter has been checked: the shared job plus the study's two files and caps; built only by <see cref="Validate"/>.</summary>
public sealed record ValidatedRun : ValidatedJob
{
    ValidatedRun(ValidatedJob job, SelectionLimits limits, string scores, string responses) : base(job)
    {
        Limits = limits;
        Scores = scores;
        Responses = responses;
    }

    public SelectionLimits Limits { get; }
    public string Scores { get; }
    public string Responses { get; }

    public static ValidatedRun Validate(RunOptions options)
    {
        if (options.MaxFaithful < 0)
        {
            throw new InvalidInputException("--max-faithful", $"must not be negative (got {options.MaxFaithful})");
        }
        if (options.MaxUnfaithful < 0)
        {
            throw new InvalidInputException("--max-unfaithful", $"must not be negative (got {options.MaxUnfaithful})");
        }
        return new ValidatedRun(
            ValidatedJob.Validate(options),
            new SelectionLimits { MaxFaithful = options.MaxFaithful, MaxUnfaithful = options.MaxUnfaithful, Variant = options.Variant },
            options.Scores,
            options.Responses);
    }
}
