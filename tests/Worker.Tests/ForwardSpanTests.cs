using System.Diagnostics;
using Activations.ServiceDefaults;

namespace Activations.Worker.Tests;

public class ForwardSpanTests
{
    [Fact]
    public void Each_forward_pass_is_a_span_with_batch_size_token_count_and_device()
    {
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ActivationsTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { lock (spans) { spans.Add(activity); } },
        };
        ActivitySource.AddActivityListener(listener);
        var settings = Fixtures.Spec();
        using var engine = Fixtures.Engine(settings);
        using var parent = new Activity("test").Start();

        var questions = Fixtures.Questions.Take(3).ToArray();
        engine.Capture(questions, settings, batchSize: 2);

        List<Activity> mine;
        lock (spans)
        {
            mine = spans.Where(s => s.TraceId == parent.TraceId).ToList();
        }
        var forwards = mine.Where(s => s.DisplayName == "forward").OrderByDescending(s => (int)s.GetTagItem("activations.batch_size")!).ToList();
        Assert.Equal([2, 1], forwards.Select(f => (int)f.GetTagItem("activations.batch_size")!));
        var tokens = questions.Sum(q => engine.Tokenize(q, settings.BosPolicy).Length);
        Assert.Equal(tokens, forwards.Sum(f => (int)f.GetTagItem("activations.token_count")!));
        Assert.All(forwards, f => Assert.Equal("cpu", f.GetTagItem("activations.device")));
        Assert.All(forwards, f => Assert.Equal("float32", f.GetTagItem("activations.dtype")));
        var tokenize = Assert.Single(mine, s => s.DisplayName == "tokenize");
        Assert.Equal(tokens, (int)tokenize.GetTagItem("activations.token_count")!);
    }
}
