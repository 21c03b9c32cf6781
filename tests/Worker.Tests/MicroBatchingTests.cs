using Activations.Contracts;
using Activations.Worker.Capture;

namespace Activations.Worker.Tests;

/// <summary>The engine's micro-batches on the parity model: results per question in input order, padding within 10%.</summary>
public class MicroBatchingTests
{
    [Fact]
    public void Micro_batches_return_each_questions_own_vectors_in_input_order_with_little_padding()
    {
        var settings = Fixtures.Spec(Pooling.Mean, BosPolicy.NoBos);
        using var engine = Fixtures.Engine(settings);
        // Every fixture question twice, shuffled, so lengths (2 to 119 tokens) arrive in no order.
        var random = new Random(7);
        var questions = Fixtures.Questions.Concat(Fixtures.Questions).OrderBy(_ => random.Next()).ToArray();
        var alone = questions.Distinct().ToDictionary(q => q, q => engine.Capture([q], settings, 1)[0]);
        var (passes, padded, real) = (engine.ForwardPasses, engine.PaddedTokens, engine.RealTokens);

        var batched = engine.Capture(questions, settings, batchSize: 32);

        Assert.Equal(questions.Length, batched.Count);
        for (var i = 0; i < questions.Length; i++)
        {
            Assert.Equal(alone[questions[i]].TokenCount, batched[i].TokenCount);
            foreach (var hook in settings.Hooks)
            {
                Assert.True(ParityTests.MaxDifference(alone[questions[i]].Vectors![hook], batched[i].Vectors![hook]) <= 1e-5, $"question {i}, {hook}");
            }
        }
        var batchPadded = engine.PaddedTokens - padded;
        var batchReal = engine.RealTokens - real;
        Assert.Equal(questions.Sum(q => engine.Tokenize(q, BosPolicy.NoBos).Length), batchReal);
        Assert.InRange(batchPadded, batchReal + 1, (long)(TokenBudgetBatcher.MaxPaddingRatio * batchReal));
        Assert.InRange(engine.ForwardPasses - passes, 2, questions.Length - 1);
    }

    [Fact]
    public void The_token_budget_bounds_each_forward_pass()
    {
        var settings = Fixtures.Spec();
        using var engine = Fixtures.Engine(settings);
        Assert.Equal(TokenBudgetBatcher.CpuDefaultTokenBudget, engine.TokenBudget);
        using var small = ActivationEngine.Load(Worker.Loading.ModelFolder.Open(Fixtures.ParityModel), settings, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, tokenBudget: 40);
        Assert.Equal(40, small.TokenBudget);
        // Twelve questions of 17 tokens: two per forward pass under 40 padded tokens.
        small.Capture(Enumerable.Repeat(Fixtures.Questions[0], 12).ToArray(), settings, 32);
        Assert.Equal(6, small.ForwardPasses);
        Assert.Equal(12 * 17, small.PaddedTokens);
    }

    [Fact]
    public void The_worker_hosts_engine_runs_under_the_workers_token_budget()
    {
        var settings = Fixtures.Spec();
        using var host = new EngineHost(Worker.Loading.ModelFolder.Open(Fixtures.ParityModel), Contracts.DeviceRequest.Of(Contracts.ComputeDevice.Cpu),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<EngineHost>.Instance, tokenBudget: 40);
        host.Capture(Enumerable.Repeat(Fixtures.Questions[0], 12).ToArray(), settings, 32);
        Assert.Equal(6, host.ForwardPasses);
    }
}
