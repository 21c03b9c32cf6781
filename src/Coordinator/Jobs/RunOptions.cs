using Activations.Contracts;
using Activations.Coordinator.Inputs;
using Activations.ServiceDefaults;
using Activations.Worker.Capture;

namespace Activations.Coordinator.Jobs;

/// <summary>What a question that cannot be captured does to the job.</summary>
public enum FailurePolicy
{
    /// <summary>The job stops without writing files and names the pairs.</summary>
    Fail,
    /// <summary>The pairs are left out of the tensors (and named in the log and manifest).</summary>
    Drop,
}

/// <summary>The `run` command's options as typed, before validation.</summary>
public sealed record RunOptions
{
    public required string Scores { get; init; }
    public required string Responses { get; init; }
    public required string Model { get; init; }
    public required string Out { get; init; }
    public string? Revision { get; init; }
    public string Layers { get; init; } = string.Join(",", CaptureSettings.DefaultLayers);
    public int MaxFaithful { get; init; } = SelectionLimits.DefaultMaxFaithful;
    public int MaxUnfaithful { get; init; } = SelectionLimits.DefaultMaxUnfaithful;
    public string Variant { get; init; } = SelectionLimits.DefaultVariant;
    public string Pooling { get; init; } = "mean";
    public bool PrependBos { get; init; }
    public string Device { get; init; } = "auto";
    public string Dtype { get; init; } = "auto";
    public int? BatchSize { get; init; }
    public int? MaxTokens { get; init; }
    public string? RabbitMq { get; init; }
    public string? Postgres { get; init; }
    public bool LocalWorker { get; init; }
    public string OnFailure { get; init; } = "fail";
}

/// <summary>A run whose every parameter has been checked; built only by <see cref="Validate"/>.</summary>
public sealed record ValidatedRun(
    CaptureSettings Settings,
    SelectionLimits Limits,
    string Scores,
    string Responses,
    string Out,
    int? BatchSize,
    RabbitMqEndpoint? Broker,
    string? Postgres,
    bool LocalWorker,
    FailurePolicy OnFailure)
{
    /// <summary>Whether this process runs a worker of its own (always without a broker).</summary>
    public bool RunsLocalWorker => Broker is null || LocalWorker;

    /// <summary>One validation step for every parameter, shared by embedded and distributed runs.</summary>
    public static ValidatedRun Validate(RunOptions options)
    {
        var layers = ParseLayers(options.Layers);
        var pooling = OptionNames.ParsePooling(options.Pooling);
        var device = OptionNames.ParseDevice(options.Device);
        var dtype = OptionNames.ParseDtype(options.Dtype);
        // The CPU's bf16 override (ACTIVATIONS_CPU_BF16) is read, and refused if unknown, with the options, before anything is written.
        _ = CpuFeatures.Current;
        if (options.MaxFaithful < 0)
        {
            throw new InvalidInputException("--max-faithful", $"must not be negative (got {options.MaxFaithful})");
        }
        if (options.MaxUnfaithful < 0)
        {
            throw new InvalidInputException("--max-unfaithful", $"must not be negative (got {options.MaxUnfaithful})");
        }
        if (options.BatchSize is < 1)
        {
            throw new InvalidInputException("--batch-size", "must be at least 1");
        }
        var onFailure = options.OnFailure.Trim().ToLowerInvariant() switch
        {
            "fail" => FailurePolicy.Fail,
            "drop" => FailurePolicy.Drop,
            _ => throw new InvalidInputException("--on-failure", $"unknown policy '{options.OnFailure}': use fail or drop"),
        };
        var settings = new CaptureSettings
        {
            Model = options.Model,
            Revision = options.Revision,
            Layers = layers,
            Pooling = pooling,
            BosPolicy = options.PrependBos ? BosPolicy.Bos : BosPolicy.NoBos,
            Device = device,
            Dtype = dtype,
            MaxTokens = options.MaxTokens,
        }.Validate();
        var rabbitmq = options.RabbitMq ?? Environment.GetEnvironmentVariable(RabbitMqEndpoint.EnvironmentVariable);
        var postgres = options.Postgres ?? Environment.GetEnvironmentVariable(ConnectionStrings.PostgresEnvironmentVariable);
        return new ValidatedRun(
            settings,
            new SelectionLimits { MaxFaithful = options.MaxFaithful, MaxUnfaithful = options.MaxUnfaithful, Variant = options.Variant },
            options.Scores,
            options.Responses,
            options.Out,
            options.BatchSize,
            string.IsNullOrWhiteSpace(rabbitmq) ? null : RabbitMqEndpoint.Parse(rabbitmq),
            string.IsNullOrWhiteSpace(postgres) ? null : postgres,
            options.LocalWorker,
            onFailure);
    }

    static int[] ParseLayers(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new InvalidInputException("--layers", "no layers were asked for");
        }
        var layers = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], out layers[i]))
            {
                throw new InvalidInputException("--layers", $"'{parts[i]}' is not a layer number");
            }
        }
        return layers;
    }
}
