using System.Globalization;
using System.Net;
using System.Text;
using Activations.Probing.Statistics;

namespace Activations.Probing.Output;

/// <summary>
/// report.html: one self-contained page (inline SVG and CSS, nothing fetched): the run, the table, balanced
/// accuracy per hook against chance, the majority baseline and the permutation null, and per hook the rows on
/// their first two principal components, their out-of-fold projections on the probe direction and the null.
/// </summary>
public static class ReportHtml
{
    public const string FileName = "report.html";
    internal const string FaithfulColor = "#1f77b4";
    internal const string UnfaithfulColor = "#ff7f0e";
    const string ObservedColor = "#d62728";

    public static void Write(Stream stream, ProbeRun run)
    {
        using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true);
        writer.Write(Render(run));
    }

    public static string Render(ProbeRun run)
    {
        var s = run.Settings;
        var manifest = run.Folder.Run;
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Probes");
        html.Append(manifest.Model is null ? "" : $": {E(manifest.Model)}");
        html.Append("</title><style>");
        html.Append("body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}h1{font-size:22px;margin:0 0 8px}h2{font-size:16px;margin:28px 0 6px}");
        html.Append("table{border-collapse:collapse;font-size:13px;margin:12px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}");
        html.Append(".run,.note{font-size:13px;line-height:1.5}.note{color:#444}.row{display:flex;flex-wrap:wrap;gap:10px}.verdict-linear,.verdict-weak,.verdict-none{white-space:nowrap}.verdict-linear{color:#1a7f37;font-weight:bold}.verdict-weak{color:#9a6700;font-weight:bold}.verdict-none{color:#666}");
        html.Append("</style></head><body>");
        html.Append("<h1>What the probes say</h1>");

        html.Append("<p class=\"run\">");
        html.Append($"<b>Model</b> {E(manifest.Model ?? "unknown (no manifest.json)")} · <b>pooling</b> {E(manifest.Pooling ?? "unknown")}");
        if (manifest.BosPolicy is not null)
        {
            html.Append($" · <b>BOS</b> {E(manifest.BosPolicy)}");
        }
        if (manifest.Dtype is not null)
        {
            html.Append($" · <b>dtype</b> {E(manifest.Dtype)}");
        }
        html.Append(manifest.Faithful is { } f && manifest.Unfaithful is { } u
            ? $" · <b>pairs</b> {f} faithful, {u} unfaithful (manifest)"
            : " · <b>pairs</b> not recorded");
        html.Append($"<br><b>Hooks</b> {E(string.Join(", ", run.Results.Select(r => r.Set.Hook)))} · <b>folder</b> {E(run.Folder.Path)}");
        html.Append($"<br><b>Evaluation</b> {s.Design.Folds}-fold stratified cross-validation × {s.Design.Repeats} repeats, {s.Permutations} label permutations, seed {s.Design.Seed}</p>");

        html.Append("<table><tr><th class=\"l\">hook</th><th class=\"l\">file</th><th>rows (faithful / unfaithful)</th><th>d</th><th>accuracy</th><th>balanced accuracy</th><th>AUROC</th><th>majority baseline</th><th>p</th><th>p (Holm)</th><th class=\"l\">verdict</th></tr>");
        foreach (var r in run.Results)
        {
            html.Append($"<tr><td class=\"l\"><a href=\"#{Id(r)}\">{E(r.Set.Hook)}</a></td><td class=\"l\">{E(r.Set.FileName)}</td><td>{r.Set.Faithful} / {r.Set.Unfaithful}</td><td>{r.Set.Width}</td>");
            html.Append($"<td>{N(r.Accuracy)} ± {N(r.AccuracyStd)}</td><td><b>{N(r.BalancedAccuracy)}</b> ± {N(r.BalancedAccuracyStd)}</td><td>{N(r.Auroc)} ± {N(r.AurocStd)}</td><td>{N(r.MajorityBaseline)}</td>");
            html.Append($"<td>{P(r.PValue)}</td><td>{P(r.PValueHolm)}</td><td class=\"l {VerdictClass(r.Verdict)}\">{E(r.Verdict)}</td></tr>");
        }
        html.Append("</table>");
        html.Append($"<p class=\"note\"><b>Verdict</b>: {E(Verdicts.Rule)} The verdict uses each hook's own p; the Holm column adjusts for testing {run.Results.Count} hook(s) at once. ± is the standard deviation over the {s.Design.Folds * s.Design.Repeats} test folds.</p>");

        html.Append("<div class=\"row\">").Append(SummaryPlot(run)).Append("</div>");

        foreach (var r in run.Results)
        {
            html.Append($"<h2 id=\"{Id(r)}\">{E(r.Set.Hook)} — <span class=\"{VerdictClass(r.Verdict)}\">{E(r.Verdict)}</span></h2>");
            html.Append($"<p class=\"note\">{E(r.Summary)}. Refit on all rows: C = {r.Probe.C.ToString("g", CultureInfo.InvariantCulture)}, direction in {E(r.ProbeFileName)}.</p>");
            html.Append("<div class=\"row\">").Append(PcaPlot(r)).Append(ProjectionPlot(r)).Append(NullPlot(r, s.Permutations)).Append("</div>");
        }

        html.Append("<h2>Method</h2><p class=\"note\">");
        html.Append("Per hook, an L2-regularised logistic-regression probe (classes weighted n / (2 n<sub>c</sub>)) on standardised features, the mean and scale taken from the training fold only. ");
        html.Append($"Its strength C ∈ {{{string.Join(", ", ProbeDesign.RegularisationGrid.Select(c => c.ToString("g", CultureInfo.InvariantCulture)))}}} (penalty ‖w‖²/2C) is chosen in each training fold by an inner {ProbeDesign.InnerFolds}-fold stratified cross-validation on that fold alone (lowest validation log-loss). ");
        html.Append("Accuracy, balanced accuracy (the mean of the two classes' recalls: 0.5 is chance whatever the class sizes) and AUROC are measured on the outer test folds. ");
        html.Append("The p-value repeats the whole cross-validation, inner selection included, on shuffled labels: p = (k + 1) / (N + 1), k the permutations whose mean balanced accuracy reaches the observed one. ");
        html.Append("The majority baseline is the accuracy of always answering the larger class; it is why plain accuracy can look good with no signal at all. ");
        html.Append("The PCA view is of all rows, standardised; the projections are out-of-fold decision values from the first repeat, each row scored by a probe that never saw it.");
        html.Append("</p></body></html>");
        return html.ToString();
    }

    static string SummaryPlot(ProbeRun run)
    {
        var hooks = run.Results.Count;
        var plot = new SvgPlot(Math.Max(820, 130 * hooks + 120), 340, (-0.6, hooks - 0.4), (0, 1), "Balanced accuracy per hook (mean ± sd over test folds)");
        plot.Line(-0.6, 0.5, hooks - 0.4, 0.5, "#555", 1.5, "6 4");
        for (var i = 0; i < hooks; i++)
        {
            var r = run.Results[i];
            var sorted = r.PermutedBalancedAccuracies.Order().ToArray();
            plot.Box(i - 0.32, Quantile(sorted, 0.05), i + 0.32, Quantile(sorted, 0.95), "#bbbbbb", 0.45);
            plot.Line(i - 0.36, r.MajorityBaseline, i + 0.36, r.MajorityBaseline, ObservedColor, 2, "2 3");
            ErrorBar(plot, i - 0.1, r.BalancedAccuracy, r.BalancedAccuracyStd, "#222");
            plot.Circle(i - 0.1, r.BalancedAccuracy, 6, "#222");
            ErrorBar(plot, i + 0.14, r.Accuracy, r.AccuracyStd, "#777");
            plot.Circle(i + 0.14, r.Accuracy, 5, "#ffffff", "#777");
            plot.Text(i, 0.04, $"p = {P(r.PValue)}", size: 10);
        }
        plot.Legend("balanced accuracy", "#222");
        plot.Legend("accuracy (hollow)", "#777");
        plot.Legend("permutation null 5–95%", "#bbbbbb");
        plot.Legend("majority baseline", ObservedColor, line: true);
        plot.Legend("chance (0.5)", "#555", line: true);
        var ticks = run.Results.Select((r, i) => ((double)i, ShortName(r))).ToList();
        return plot.Render("hook", "score", ticks, Enumerable.Range(0, 6).Select(k => (k * 0.2, (k * 0.2).ToString("0.0", CultureInfo.InvariantCulture))));
    }

    static string PcaPlot(ProbeResult r)
    {
        var pca = r.Pca;
        var plot = new SvgPlot(380, 320, Padded(pca.First), Padded(pca.Second), "Rows on the first two principal components");
        for (var i = 0; i < r.Set.Count; i++)
        {
            var faithful = i < r.Set.Faithful;
            plot.Circle(pca.First[i], pca.Second[i], 4.5, faithful ? FaithfulColor : UnfaithfulColor, "#ffffff", 0.85);
        }
        plot.Legend($"faithful ({r.Set.Faithful})", FaithfulColor);
        plot.Legend($"unfaithful ({r.Set.Unfaithful})", UnfaithfulColor);
        return plot.Render($"PC1 ({pca.FirstShare:P0} of variance)", $"PC2 ({pca.SecondShare:P0})");
    }

    static string ProjectionPlot(ProbeResult r)
    {
        var scores = r.CrossValidation.OutOfFoldScores;
        var (lo, hi) = Padded(scores);
        const int bins = 16;
        var width = (hi - lo) / bins;
        var faithful = Histogram(scores.Take(r.Set.Faithful), lo, width, bins);
        var unfaithful = Histogram(scores.Skip(r.Set.Faithful), lo, width, bins);
        var top = Math.Max(faithful.Max(), unfaithful.Max()) + 1;
        var plot = new SvgPlot(380, 320, (lo, hi), (0, top), "Out-of-fold projections on the probe direction");
        for (var b = 0; b < bins; b++)
        {
            var x0 = lo + b * width;
            plot.Box(x0, 0, x0 + width, faithful[b], FaithfulColor, 0.55, FaithfulColor);
            plot.Box(x0, 0, x0 + width, unfaithful[b], UnfaithfulColor, 0.55, UnfaithfulColor);
        }
        if (lo < 0 && hi > 0)
        {
            plot.Line(0, 0, 0, top, "#555", 1.5, "6 4");
        }
        plot.Legend("faithful", FaithfulColor);
        plot.Legend("unfaithful", UnfaithfulColor);
        plot.Legend("threshold (0)", "#555", line: true);
        return plot.Render("decision value (x · w + b)", "rows");
    }

    static string NullPlot(ProbeResult r, int permutations)
    {
        const int bins = 20;
        const double lo = 0.2, hi = 1.0;
        var width = (hi - lo) / bins;
        var counts = Histogram(r.PermutedBalancedAccuracies.Select(v => Math.Clamp(v, lo, hi - 1e-9)), lo, width, bins);
        var top = counts.Max() + 1;
        var plot = new SvgPlot(380, 320, (lo, hi), (0, top), $"Permutation null ({permutations} shuffles)");
        for (var b = 0; b < bins; b++)
        {
            plot.Box(lo + b * width, 0, lo + (b + 1) * width, counts[b], "#999999", 0.8, "#ffffff");
        }
        plot.Line(r.BalancedAccuracy, 0, r.BalancedAccuracy, top, ObservedColor, 2.5);
        plot.Legend("shuffled labels", "#999999");
        plot.Legend($"observed, p = {P(r.PValue)}", ObservedColor);
        return plot.Render("mean balanced accuracy", "permutations");
    }

    static void ErrorBar(SvgPlot plot, double x, double mean, double sd, string color)
    {
        plot.Line(x, Math.Max(0, mean - sd), x, Math.Min(1, mean + sd), color, 1.5);
        plot.Line(x - 0.05, Math.Max(0, mean - sd), x + 0.05, Math.Max(0, mean - sd), color, 1.5);
        plot.Line(x - 0.05, Math.Min(1, mean + sd), x + 0.05, Math.Min(1, mean + sd), color, 1.5);
    }

    static int[] Histogram(IEnumerable<double> values, double lo, double width, int bins)
    {
        var counts = new int[bins];
        foreach (var v in values)
        {
            counts[Math.Clamp((int)Math.Floor((v - lo) / width), 0, bins - 1)]++;
        }
        return counts;
    }

    static (double, double) Padded(IReadOnlyCollection<double> values)
    {
        var lo = values.Min();
        var hi = values.Max();
        var pad = Math.Max((hi - lo) * 0.08, 1e-6);
        return (lo - pad, hi + pad);
    }

    static double Quantile(double[] sorted, double q) => sorted[(int)Math.Clamp(Math.Round(q * (sorted.Length - 1)), 0, sorted.Length - 1)];

    static string ShortName(ProbeResult r) => r.Set.Stem.Length <= 18 ? r.Set.Stem : r.Set.Hook.Replace("blocks.", "").Replace("hook_", "");

    static string Id(ProbeResult r) => "hook-" + new string(r.Set.Stem.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());

    static string VerdictClass(string verdict) => verdict switch
    {
        Verdicts.LinearDirection => "verdict-linear",
        Verdicts.WeakSignal => "verdict-weak",
        _ => "verdict-none",
    };

    static string E(string text) => WebUtility.HtmlEncode(text);

    static string N(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);

    static string P(double value) => value.ToString(value < 0.001 ? "0.0e0" : "0.####", CultureInfo.InvariantCulture);
}
