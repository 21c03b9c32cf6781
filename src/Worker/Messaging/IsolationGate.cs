using MassTransit;

namespace Activations.Worker.Messaging;

/// <summary>
/// Nothing runs alone while a question moved to isolation is still unacknowledged on the question queue.
/// A batch that moves its suspects holds them, unacknowledged, until the whole batch is done; if a question ran
/// alone meanwhile and killed the process, they would return to the question queue and be moved a second time,
/// each copy then counting its deaths from zero (a poison question would kill more workers than the death limit).
/// The moved messages are marked on their receive context; the gate opens when the last is acknowledged.
/// </summary>
public sealed class IsolationGate : IReceiveObserver
{
    /// <summary>The mark of a message moved to isolation (a retried batch finds it and does not move it again).</summary>
    sealed class Moved;

    readonly Lock sync = new();
    int unacknowledged;
    TaskCompletionSource open = Opened();

    /// <summary>Marks <paramref name="message"/> (its receive context) as moved; false when it already was (by an earlier attempt of its batch).</summary>
    public bool Moving(PipeContext message)
    {
        lock (sync)
        {
            if (message.TryGetPayload<Moved>(out _))
            {
                return false;
            }
            message.GetOrAddPayload(() => new Moved());
            if (unacknowledged++ == 0)
            {
                open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            return true;
        }
    }

    /// <summary>Completes when no moved question is unacknowledged.</summary>
    public Task WaitAsync(CancellationToken cancellation)
    {
        lock (sync)
        {
            return open.Task.WaitAsync(cancellation);
        }
    }

    public Task PostReceive(ReceiveContext context) => Settled(context);

    public Task ReceiveFault(ReceiveContext context, Exception exception) => Settled(context);

    /// <summary>A message was acknowledged (or faulted): if it was a moved one, one fewer is unacknowledged.</summary>
    internal Task Settled(PipeContext message)
    {
        if (message.TryGetPayload<Moved>(out _))
        {
            lock (sync)
            {
                if (--unacknowledged == 0)
                {
                    open.TrySetResult();
                }
            }
        }
        return Task.CompletedTask;
    }

    static TaskCompletionSource Opened()
    {
        var source = new TaskCompletionSource();
        source.SetResult();
        return source;
    }

    public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;
}
