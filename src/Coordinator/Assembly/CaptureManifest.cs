using System.Text.Json.Serialization;

namespace Activations.Coordinator.Assembly;

/// <summary>The prompt file's fields as given to `capture`.</summary>
public sealed record CaptureManifestFields(string Text, string Id, string? Label);

/// <summary>A prompt of the file with no row in the tensors, and why.</summary>
public sealed record CaptureManifestLeftOut(string Id, string Reason);

/// <summary>
/// `capture`'s manifest.json: what ran (<see cref="RunManifest"/>) and the rows: every id and label in the row order of
/// <c>activations</c>, and each label's ids in the row order of <c>activations.{label}</c>.
/// </summary>
public sealed record CaptureManifest : RunManifest
{
    [JsonPropertyOrder(-2)]
    public string Command { get; init; } = "capture";
    public required ManifestInput Input { get; init; }
    public required CaptureManifestFields Fields { get; init; }
    /// <summary>Each row's id, in file order.</summary>
    public required IReadOnlyList<string> Ids { get; init; }
    /// <summary>Each row's label (null without --label-field).</summary>
    public IReadOnlyList<string>? Labels { get; init; }
    /// <summary>Each label's ids in the row order of its tensor.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? LabelRows { get; init; }
    public required IReadOnlyList<CaptureManifestLeftOut> LeftOut { get; init; }
}
