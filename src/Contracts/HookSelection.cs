using System.Globalization;

namespace Activations.Contracts;

/// <summary>
/// What --hooks and --layers ask for, read before the model is known: exact hook names, names with '*' for every
/// layer, and --layers as the shortcut for <c>blocks.L.hook_resid_post</c>. <see cref="Resolve"/> turns it into
/// hook points against the model's depth; a name that is not a hook point is refused here, before any work.
/// </summary>
public sealed class HookSelection
{
    /// <summary>A requested name: a kind at one layer, or at every layer (Layer null, '*').</summary>
    readonly record struct Pattern(HookKind Kind, int? Layer, string Option, string Text);

    readonly IReadOnlyList<Pattern> patterns;

    HookSelection(IReadOnlyList<Pattern> patterns) => this.patterns = patterns;

    public static readonly IReadOnlyList<int> DefaultLayers = [6, 12, 18, 24];

    /// <summary>What --help says about --hooks.</summary>
    public static string Help =>
        $"TransformerLens hook points, comma-separated: {string.Join(", ", HookPoint.NamePatterns)} (L a layer number, or * for every layer)";

    /// <summary>
    /// Reads --hooks and --layers (null: not given). Both given: their union; neither: layers 6, 12, 18, 24.
    /// An unknown name, a malformed layer or an empty list is refused naming it.
    /// </summary>
    public static HookSelection Parse(string? hooks, string? layers)
    {
        var patterns = new List<Pattern>();
        if (hooks is null && layers is null)
        {
            patterns.AddRange(DefaultLayers.Select(l => new Pattern(HookKind.ResidPost, l, "--layers", l.ToString(CultureInfo.InvariantCulture))));
        }
        if (hooks is not null)
        {
            var items = Items(hooks, "--hooks", "hooks");
            foreach (var item in items)
            {
                patterns.Add(ParseHook(item));
            }
        }
        if (layers is not null)
        {
            foreach (var item in Items(layers, "--layers", "layers"))
            {
                if (item.StartsWith('-') && HookPoint.TryParseLayer(item[1..], out _))
                {
                    throw new InvalidInputException("--layers", $"layer {item} is negative");
                }
                if (!HookPoint.TryParseLayer(item, out var layer))
                {
                    throw new InvalidInputException("--layers", $"'{item}' is not a layer number");
                }
                patterns.Add(new Pattern(HookKind.ResidPost, layer, "--layers", item));
            }
        }
        return new HookSelection(patterns);
    }

    static string[] Items(string text, string option, string what)
    {
        var items = text.Split(',', StringSplitOptions.TrimEntries);
        if (items.All(i => i.Length == 0))
        {
            throw new InvalidInputException(option, $"no {what} were asked for");
        }
        if (items.Any(i => i.Length == 0))
        {
            throw new InvalidInputException(option, $"an empty name in '{text}': give names separated by single commas");
        }
        return items;
    }

    static Pattern ParseHook(string item)
    {
        if (item == HookPoint.EmbedName)
        {
            return new Pattern(HookKind.Embed, null, "--hooks", item);
        }
        if (HookPoint.TrySplit(item, out var layerText, out var kind))
        {
            if (layerText == "*")
            {
                return new Pattern(kind, null, "--hooks", item);
            }
            if (HookPoint.TryParseLayer(layerText, out var layer))
            {
                return new Pattern(kind, layer, "--hooks", item);
            }
            throw new InvalidInputException("--hooks", $"'{item}': '{layerText}' is not a layer number or *");
        }
        throw new InvalidInputException("--hooks", $"unknown hook '{item}': use {string.Join(", ", HookPoint.NamePatterns)} (L a layer number, or *)");
    }

    /// <summary>
    /// The hook points against a model of <paramref name="layerCount"/> decoder layers ('*' is every one of them),
    /// sorted and without repeats. A layer outside the model is refused naming the hook (<paramref name="source"/>: the model).
    /// </summary>
    public IReadOnlyList<HookPoint> Resolve(int layerCount, string source)
    {
        var hooks = new SortedSet<HookPoint>();
        foreach (var pattern in patterns)
        {
            if (pattern.Kind == HookKind.Embed)
            {
                hooks.Add(HookPoint.Embed);
            }
            else if (pattern.Layer is { } layer)
            {
                var hook = HookPoint.At(pattern.Kind, layer);
                CaptureSpec.CheckInModel(hook, layerCount, source, pattern.Option);
                hooks.Add(hook);
            }
            else
            {
                for (var l = 0; l < layerCount; l++)
                {
                    hooks.Add(HookPoint.At(pattern.Kind, l));
                }
            }
        }
        return [.. hooks];
    }
}
