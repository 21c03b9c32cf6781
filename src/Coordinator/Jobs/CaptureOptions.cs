using Activations.Contracts;
using Activations.Coordinator.Inputs;

namespace Activations.Coordinator.Jobs;

/// <summary>The `capture` command's options as typed, before validation: the shared job options and the prompt file's.</summary>
public sealed record CaptureOptions : JobOptions
{
    public required string Prompts { get; init; }
    public string TextField { get; init; } = "question";
    public string IdField { get; init; } = "id";
    public string? LabelField { get; init; }
}

/// <summary>A `capture` whose every parameter has been checked: the shared job plus the prompt file and its fields; built only by <see cref="Validate"/>.</summary>
public sealed record ValidatedCapture : ValidatedJob
{
    ValidatedCapture(ValidatedJob job, string prompts, PromptFields fields) : base(job)
    {
        Prompts = prompts;
        Fields = fields;
    }

    public string Prompts { get; }
    public PromptFields Fields { get; }

    public static ValidatedCapture Validate(CaptureOptions options)
    {
        static string Name(string? value, string option) => string.IsNullOrWhiteSpace(value)
            ? throw new InvalidInputException(option, "must name a field")
            : value.Trim();
        var fields = new PromptFields(Name(options.TextField, "--text-field"), Name(options.IdField, "--id-field"),
            options.LabelField is null ? null : Name(options.LabelField, "--label-field"));
        if (fields.Text == fields.Id || fields.Text == fields.Label || fields.Id == fields.Label)
        {
            throw new InvalidInputException("--text-field", $"the text, id and label fields must differ (text '{fields.Text}', id '{fields.Id}', label '{fields.Label}')");
        }
        return new ValidatedCapture(ValidatedJob.Validate(options), options.Prompts, fields);
    }
}
