using System.Globalization;
using System.Text.RegularExpressions;
using Activations.Probing.Input;
using Activations.Probing.Output;

namespace Activations.Probing.Tests;

/// <summary>One probe run on two hooks (a planted direction and noise) with its report, shared by the report tests.</summary>
public sealed class ReportFixture
{
    public ReportFixture()
    {
        var folder = ActivationFolders.NewFolder();
        var (f, u, _) = Synthetic.Planted(30, 15, 32, shift: 4, seed: 31);
        ActivationFolders.WritePt(System.IO.Path.Combine(folder, "layer_4_activations.pt"), f, u);
        var (f2, u2, _) = Synthetic.Planted(30, 15, 32, shift: 0, seed: 32);
        ActivationFolders.WritePt(System.IO.Path.Combine(folder, "layer_8_activations.pt"), f2, u2);
        ActivationFolders.WriteManifest(folder, 30, 15);
        var settings = ProbeSettings.Validate(folder, null, 5, 2, 30, 0);
        Run = new ProbeRunner(settings).Run(ActivationFolderReader.Read(folder, 5));
        ProbeOutputWriter.Write(Run);
        Path = System.IO.Path.Combine(settings.Out, ReportHtml.FileName);
    }

    public ProbeRun Run { get; }

    public string Path { get; }
}

/// <summary>report.html opened in real headless Chromium: self-contained, and every plot drawn.</summary>
public partial class ReportTests(ReportFixture fixture) : IClassFixture<ReportFixture>
{
    static bool Bluish((byte R, byte G, byte B) p) => p.B > p.R + 50 && p.B > 150; // faithful #1f77b4, alone or blended
    static bool Orangish((byte R, byte G, byte B) p) => p.R > 200 && p.G is > 110 and < 215 && p.B < 150; // unfaithful #ff7f0e
    static bool Red((byte R, byte G, byte B) p) => p.R > 180 && p.G < 90 && p.B < 90; // observed / majority #d62728
    static bool Grey((byte R, byte G, byte B) p) => Math.Abs(p.R - p.G) < 8 && Math.Abs(p.G - p.B) < 8 && p.R is > 120 and < 225;
    static bool Dark((byte R, byte G, byte B) p) => p.R < 70 && p.G < 70 && p.B < 70;

    (ProbeRun Run, string Html) Report() => (fixture.Run, fixture.Path);

    [Fact]
    public void The_report_is_self_contained_and_names_the_run()
    {
        var (run, path) = Report();
        var html = File.ReadAllText(path);

        Assert.DoesNotMatch(@"(src|href)\s*=\s*""(https?:|//)", html); // nothing fetched at view time
        Assert.DoesNotContain("<script", html);
        Assert.Contains("test/planted", html); // the model, from the manifest
        Assert.Contains("30 faithful, 15 unfaithful (manifest)", html);
        Assert.Contains("<b>pooling</b> mean", html);
        Assert.Contains("blocks.4.hook_resid_post, blocks.8.hook_resid_post", html);
        Assert.Contains(System.Net.WebUtility.HtmlEncode(Statistics.Verdicts.Rule), html);
        // One summary plot, then three per hook.
        Assert.Equal(1 + 3 * run.Results.Count, Svg().Matches(html).Count);
    }

    [Fact]
    public void Chromium_draws_every_plot()
    {
        var (run, path) = Report();
        var plots = Svg().Matches(File.ReadAllText(path)).Select(m => m.Value).ToList();
        Assert.Equal(7, plots.Count);

        // Each plot at a known place on one page, so each can be checked in the screenshot.
        var sizes = plots.Select(p => (W: Size(p, "width"), H: Size(p, "height"))).ToList();
        var tops = new List<int>();
        var page = new System.Text.StringBuilder("<!DOCTYPE html><html><body style=\"margin:0;background:#fff\">");
        var top = 0;
        foreach (var (plot, size) in plots.Zip(sizes))
        {
            tops.Add(top);
            page.Append($"<div style=\"position:absolute;left:0;top:{top}px\">{plot}</div>");
            top += size.H + 10;
        }
        page.Append("</body></html>");
        var pagePath = Path.Combine(Path.GetDirectoryName(path)!, "plots-only.html");
        File.WriteAllText(pagePath, page.ToString());
        var shot = Chromium.Screenshot(pagePath, sizes.Max(s => s.W), top);

        int Count(int plot, Func<(byte R, byte G, byte B), bool> test) => shot.Count(0, tops[plot], sizes[plot].W, tops[plot] + sizes[plot].H, test);
        // The summary: points with error bars (dark), the permutation bands (grey), the majority baseline (red).
        Assert.True(Count(0, Dark) > 300, $"summary: {Count(0, Dark)} dark pixels");
        Assert.True(Count(0, Grey) > 2000, $"summary: {Count(0, Grey)} grey pixels");
        Assert.True(Count(0, Red) > 60, $"summary: {Count(0, Red)} red pixels");
        for (var hook = 0; hook < run.Results.Count; hook++)
        {
            var pca = 1 + 3 * hook;
            // 30 + 15 points of radius 4.5: each class's colour covers many pixels.
            Assert.True(Count(pca, Bluish) > 30 * 20, $"PCA {hook}: {Count(pca, Bluish)} faithful pixels");
            Assert.True(Count(pca, Orangish) > 15 * 20, $"PCA {hook}: {Count(pca, Orangish)} unfaithful pixels");
            Assert.True(Count(pca + 1, Bluish) > 500, $"projections {hook}: {Count(pca + 1, Bluish)} faithful pixels");
            Assert.True(Count(pca + 1, Orangish) > 300, $"projections {hook}: {Count(pca + 1, Orangish)} unfaithful pixels");
            Assert.True(Count(pca + 2, Grey) > 1500, $"null {hook}: {Count(pca + 2, Grey)} grey pixels");
            Assert.True(Count(pca + 2, Red) > 50, $"null {hook}: {Count(pca + 2, Red)} red pixels");
        }

        // And the report itself renders as a page: table text, the plots, all of it.
        var report = Chromium.Screenshot(path, 1250, 2400);
        Assert.True(report.Count(0, 0, report.Width, report.Height, Bluish) > 2000);
        Assert.True(report.Count(0, 0, report.Width, report.Height, Orangish) > 1000);
        Assert.True(report.Count(0, 0, report.Width, 300, Dark) > 2000, "the title and table are drawn");
    }

    [Fact]
    public void A_blank_plot_fails_the_check()
    {
        // The same check on an SVG with its marks removed: the frame alone has no class colours.
        var (_, path) = Report();
        var plot = Svg().Matches(File.ReadAllText(path)).Select(m => m.Value).ElementAt(1);
        var blank = Regex.Replace(plot, "<circle[^>]*/>", "");
        var pagePath = Path.Combine(Path.GetDirectoryName(path)!, "blank.html");
        File.WriteAllText(pagePath, $"<!DOCTYPE html><html><body style=\"margin:0\">{blank}</body></html>");
        var shot = Chromium.Screenshot(pagePath, Size(plot, "width"), Size(plot, "height"));
        Assert.True(shot.Count(0, 0, shot.Width, shot.Height, Bluish) < 200);
    }

    static int Size(string svg, string attribute) =>
        (int)Math.Ceiling(double.Parse(Regex.Match(svg, $"{attribute}=\"([0-9.]+)\"").Groups[1].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex("<svg[^>]*class=\"plot\".*?</svg>", RegexOptions.Singleline)]
    private static partial Regex Svg();
}
