using Activations.Contracts;

namespace Activations.Coordinator.Jobs;

/// <summary>
/// --prompt-template: wraps each text before it is tokenised, e.g. <c>"&lt;｜User｜&gt;{text}&lt;｜Assistant｜&gt;"</c> for the
/// R1 chat format. The template holds <c>{text}</c> exactly once; nothing else in it is special. The wrapped text is
/// what the worker tokenises, so it is what the job key covers.
/// </summary>
public sealed record PromptTemplate
{
    public const string Placeholder = "{text}";

    /// <summary>No template: each text as it is.</summary>
    public static readonly PromptTemplate Identity = new(Placeholder);

    PromptTemplate(string text) => Text = text;

    /// <summary>The template as given (<c>{text}</c> for none).</summary>
    public string Text { get; }

    public bool IsIdentity => Text == Placeholder;

    /// <summary>Null or empty means no template; otherwise <c>{text}</c> must occur exactly once.</summary>
    public static PromptTemplate Parse(string? template)
    {
        if (string.IsNullOrEmpty(template))
        {
            return Identity;
        }
        var first = template.IndexOf(Placeholder, StringComparison.Ordinal);
        if (first < 0)
        {
            throw new InvalidInputException("--prompt-template", $"must contain {Placeholder} once, where each text goes (got '{template}')");
        }
        if (template.IndexOf(Placeholder, first + Placeholder.Length, StringComparison.Ordinal) >= 0)
        {
            throw new InvalidInputException("--prompt-template", $"must contain {Placeholder} once, not more (got '{template}')");
        }
        return new PromptTemplate(template);
    }

    /// <summary>The text the model sees.</summary>
    public string Apply(string text)
    {
        if (IsIdentity)
        {
            return text;
        }
        var at = Text.IndexOf(Placeholder, StringComparison.Ordinal);
        return string.Concat(Text.AsSpan(0, at), text, Text.AsSpan(at + Placeholder.Length));
    }
}
