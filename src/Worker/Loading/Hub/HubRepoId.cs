using System.Text.RegularExpressions;

namespace Activations.Worker.Loading.Hub;

/// <summary>A model repository id on the Hub, "org/name".</summary>
public sealed partial record HubRepoId(string Organization, string Name)
{
    // The Hub caps ids at 96 characters.
    const int MaxLength = 96;

    public static bool TryParse(string text, out HubRepoId? id)
    {
        id = null;
        if (text.Length > MaxLength || !Shape().IsMatch(text) || text.Contains("--", StringComparison.Ordinal) || text.Contains("..", StringComparison.Ordinal))
        {
            return false;
        }
        var slash = text.IndexOf('/');
        id = new HubRepoId(text[..slash], text[(slash + 1)..]);
        return true;
    }

    /// <summary>The repository's folder name in the cache: models--{org}--{name}.</summary>
    public string CacheFolderName => $"models--{Organization}--{Name}";

    public override string ToString() => $"{Organization}/{Name}";

    // Each part starts and ends with a letter, digit or underscore, so "." and ".." can never be a part.
    [GeneratedRegex(@"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?/[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")]
    private static partial Regex Shape();
}
