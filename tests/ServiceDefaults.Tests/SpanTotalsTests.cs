using System.Diagnostics;

namespace Activations.ServiceDefaults.Tests;

public sealed class SpanTotalsTests
{
    [Fact]
    public void Sums_each_of_our_spans_by_name_and_leaves_other_sources_out()
    {
        using var totals = new SpanTotals();
        using var other = new ActivitySource("Someone.Else");
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 3; i++)
        {
            using (ActivationsTelemetry.Source.StartActivity("span-totals-test"))
            {
                Thread.Sleep(20);
            }
        }
        var elapsed = clock.Elapsed.TotalSeconds;
        using (other.StartActivity("span-totals-test-other"))
        {
        }

        var snapshot = totals.Snapshot();
        var total = snapshot["span-totals-test"];
        Assert.Equal(3, total.Count);
        Assert.InRange(total.Seconds, 0.06, elapsed);
        Assert.False(snapshot.ContainsKey("span-totals-test-other"));
    }

    [Fact]
    public void Counts_nothing_after_it_is_disposed()
    {
        var totals = new SpanTotals();
        totals.Dispose();
        using (ActivationsTelemetry.Source.StartActivity("span-totals-after-dispose"))
        {
        }
        Assert.False(totals.Snapshot().ContainsKey("span-totals-after-dispose"));
    }
}
