using Activations.Worker.Messaging;
using MassTransit.Middleware;

namespace Activations.Worker.Tests;

public class IsolationGateTests
{
    /// <summary>A message's receive context, as far as the gate sees it: a payload cache.</summary>
    sealed class Message : BasePipeContext;

    [Fact]
    public async Task Nothing_runs_alone_until_every_moved_question_is_acknowledged_and_a_retried_batch_moves_nothing_again()
    {
        var gate = new IsolationGate();
        Assert.True(gate.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);

        Message first = new(), second = new();
        Assert.True(gate.Moving(first));
        Assert.True(gate.Moving(second));
        Assert.False(gate.Moving(first));
        var waiting = gate.WaitAsync(CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        await gate.Settled(new Message());
        await gate.Settled(first);
        Assert.False(waiting.IsCompleted);
        await gate.Settled(second);
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(gate.Moving(new Message()));
        Assert.False(gate.WaitAsync(CancellationToken.None).IsCompleted);
    }

    [Fact]
    public async Task A_stopping_worker_stops_waiting_at_its_cancellation()
    {
        var gate = new IsolationGate();
        gate.Moving(new Message());
        using var stop = new CancellationTokenSource();
        var waiting = gate.WaitAsync(stop.Token);
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }
}
