using System.Text.Json;
using System.Text.Json.Serialization;
using Activations.Probing.Statistics;

namespace Activations.Probing.Output;

/// <summary>probes.json: the run's settings and one entry per hook, in the model's order.</summary>
public static class ProbesJson
{
    public const string FileName = "probes.json";

    static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public sealed record Document(
        int Seed, int Folds, int Repeats, int Permutations, int InnerFolds, IReadOnlyList<double> RegularisationGrid,
        string VerdictRule, string? Model, string? Pooling, IReadOnlyList<Entry> Results);

    public sealed record Entry(
        string File, string Hook, int NFaithful, int NUnfaithful, int DModel,
        double Accuracy, double AccuracyStd, double BalancedAccuracy, double BalancedAccuracyStd,
        double Auroc, double AurocStd, double MajorityBaseline, double PValue, double PValueHolm, string Verdict,
        double RefitC, string Direction);

    public static Document From(ProbeRun run) => new(
        run.Settings.Design.Seed, run.Settings.Design.Folds, run.Settings.Design.Repeats, run.Settings.Permutations,
        ProbeDesign.InnerFolds, ProbeDesign.RegularisationGrid, Verdicts.Rule, run.Folder.Run.Model, run.Folder.Run.Pooling,
        run.Results.Select(r => new Entry(
            r.Set.FileName, r.Set.Hook, r.Set.Faithful, r.Set.Unfaithful, r.Set.Width,
            r.Accuracy, r.AccuracyStd, r.BalancedAccuracy, r.BalancedAccuracyStd, r.Auroc, r.AurocStd,
            r.MajorityBaseline, r.PValue, r.PValueHolm, r.Verdict, r.Probe.C, r.ProbeFileName)).ToList());

    public static void Write(Stream stream, ProbeRun run) => JsonSerializer.Serialize(stream, From(run), Options);

    public static Document Read(string path) =>
        JsonSerializer.Deserialize<Document>(File.ReadAllText(path), Options) ?? throw new InvalidDataException($"{path}: empty");
}
