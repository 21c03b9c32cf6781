using System.Globalization;
using System.Net;
using System.Text;

namespace Activations.Probing.Output;

/// <summary>A plot drawn as inline SVG: a frame with linear axes, ticks and labels, and marks in data coordinates.</summary>
internal sealed class SvgPlot
{
    const double Left = 56, Right = 14, Top = 48, Bottom = 46;
    readonly List<(string Label, string Color, bool Line)> legend = [];
    readonly StringBuilder marks = new();
    readonly double width, height, xMin, xMax, yMin, yMax;
    readonly string title;

    public SvgPlot(double width, double height, (double Min, double Max) x, (double Min, double Max) y, string title)
    {
        this.width = width;
        this.height = height;
        (xMin, xMax) = x.Max > x.Min ? x : (x.Min - 1, x.Max + 1);
        (yMin, yMax) = y.Max > y.Min ? y : (y.Min - 1, y.Max + 1);
        this.title = title;
    }

    public double X(double value) => Left + (value - xMin) / (xMax - xMin) * (width - Left - Right);

    public double Y(double value) => height - Bottom - (value - yMin) / (yMax - yMin) * (height - Top - Bottom);

    public void Circle(double x, double y, double radius, string fill, string stroke = "none", double opacity = 1) =>
        marks.Append($"<circle cx=\"{F(X(x))}\" cy=\"{F(Y(y))}\" r=\"{F(radius)}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\" fill-opacity=\"{F(opacity)}\"/>");

    public void Line(double x1, double y1, double x2, double y2, string stroke, double strokeWidth = 1.5, string dash = "") =>
        marks.Append($"<line x1=\"{F(X(x1))}\" y1=\"{F(Y(y1))}\" x2=\"{F(X(x2))}\" y2=\"{F(Y(y2))}\" stroke=\"{stroke}\" stroke-width=\"{F(strokeWidth)}\"{(dash.Length > 0 ? $" stroke-dasharray=\"{dash}\"" : "")}/>");

    /// <summary>A rectangle between two data corners.</summary>
    public void Box(double x1, double y1, double x2, double y2, string fill, double opacity = 1, string stroke = "none") =>
        marks.Append($"<rect x=\"{F(Math.Min(X(x1), X(x2)))}\" y=\"{F(Math.Min(Y(y1), Y(y2)))}\" width=\"{F(Math.Abs(X(x2) - X(x1)))}\" height=\"{F(Math.Abs(Y(y2) - Y(y1)))}\" fill=\"{fill}\" fill-opacity=\"{F(opacity)}\" stroke=\"{stroke}\"/>");

    public void Text(double x, double y, string text, string anchor = "middle", double size = 11, string fill = "#333", double dy = 0) =>
        marks.Append($"<text x=\"{F(X(x))}\" y=\"{F(Y(y) + dy)}\" font-size=\"{F(size)}\" text-anchor=\"{anchor}\" fill=\"{fill}\">{WebUtility.HtmlEncode(text)}</text>");

    /// <summary>A legend entry; entries sit in a row between the title and the frame, clear of the data.</summary>
    public void Legend(string label, string color, bool line = false) => legend.Add((label, color, line));

    void RenderLegend(StringBuilder svg)
    {
        var x = Left;
        const double y = 38;
        foreach (var (label, color, line) in legend)
        {
            svg.Append(line
                ? $"<line x1=\"{F(x)}\" y1=\"{F(y - 4)}\" x2=\"{F(x + 16)}\" y2=\"{F(y - 4)}\" stroke=\"{color}\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/>"
                : $"<rect x=\"{F(x + 3)}\" y=\"{F(y - 9)}\" width=\"10\" height=\"10\" fill=\"{color}\"/>");
            svg.Append($"<text x=\"{F(x + 21)}\" y=\"{F(y)}\" font-size=\"11\" fill=\"#333\">{WebUtility.HtmlEncode(label)}</text>");
            x += 30 + 6.2 * label.Length;
        }
    }

    /// <summary>The finished SVG: frame, grid and tick labels, axis titles, then the marks.</summary>
    public string Render(string xLabel, string yLabel, IEnumerable<(double Value, string Label)>? xTicks = null, IEnumerable<(double Value, string Label)>? yTicks = null)
    {
        var svg = new StringBuilder();
        svg.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"{F(width)}\" height=\"{F(height)}\" viewBox=\"0 0 {F(width)} {F(height)}\" font-family=\"sans-serif\">");
        svg.Append($"<rect x=\"0\" y=\"0\" width=\"{F(width)}\" height=\"{F(height)}\" fill=\"#ffffff\"/>");
        svg.Append($"<text x=\"{F(width / 2)}\" y=\"17\" font-size=\"13\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"#222\">{WebUtility.HtmlEncode(title)}</text>");
        foreach (var (value, label) in yTicks ?? NiceTicks(yMin, yMax))
        {
            svg.Append($"<line x1=\"{F(Left)}\" y1=\"{F(Y(value))}\" x2=\"{F(width - Right)}\" y2=\"{F(Y(value))}\" stroke=\"#e6e6e6\"/>");
            svg.Append($"<text x=\"{F(Left - 6)}\" y=\"{F(Y(value) + 4)}\" font-size=\"10\" text-anchor=\"end\" fill=\"#555\">{WebUtility.HtmlEncode(label)}</text>");
        }
        foreach (var (value, label) in xTicks ?? NiceTicks(xMin, xMax))
        {
            svg.Append($"<line x1=\"{F(X(value))}\" y1=\"{F(height - Bottom)}\" x2=\"{F(X(value))}\" y2=\"{F(height - Bottom + 4)}\" stroke=\"#555\"/>");
            svg.Append($"<text x=\"{F(X(value))}\" y=\"{F(height - Bottom + 16)}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">{WebUtility.HtmlEncode(label)}</text>");
        }
        svg.Append(marks);
        RenderLegend(svg);
        svg.Append($"<rect x=\"{F(Left)}\" y=\"{F(Top)}\" width=\"{F(width - Left - Right)}\" height=\"{F(height - Top - Bottom)}\" fill=\"none\" stroke=\"#888\"/>");
        svg.Append($"<text x=\"{F((Left + width - Right) / 2)}\" y=\"{F(height - 8)}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">{WebUtility.HtmlEncode(xLabel)}</text>");
        svg.Append($"<text transform=\"translate(14 {F((Top + height - Bottom) / 2)}) rotate(-90)\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">{WebUtility.HtmlEncode(yLabel)}</text>");
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>About five round tick values inside [min, max].</summary>
    internal static IEnumerable<(double, string)> NiceTicks(double min, double max)
    {
        var raw = (max - min) / 5;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * magnitude).First(s => s >= raw);
        var decimals = Math.Max(0, -(int)Math.Floor(Math.Log10(step) + 1e-9) + (step / magnitude == 2.5 ? 1 : 0));
        for (var v = Math.Ceiling(min / step) * step; v <= max + step * 1e-9; v += step)
        {
            yield return (v, v.ToString("F" + decimals, CultureInfo.InvariantCulture));
        }
    }

    internal static string F(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}
