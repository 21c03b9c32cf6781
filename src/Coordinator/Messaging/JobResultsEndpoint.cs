using Activations.Contracts.Messages;
using Activations.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Activations.Coordinator.Messaging;

/// <summary>
/// Connects a job's own results queue (<see cref="QueueNames.Results"/>, bound by <see cref="ReplyTopology"/>) to the
/// started bus, with the <see cref="QuestionsAnsweredConsumer"/> as its definition configures it. The queue is the
/// job's, not the process's: a coordinator run again on the same job consumes what arrived while none was running.
/// </summary>
public sealed class JobResultsEndpoint(IServiceProvider services)
{
    public async Task<HostReceiveEndpointHandle> ConnectAsync(IBusControl bus, Guid jobId, CancellationToken cancellation)
    {
        var registration = services.GetRequiredService<IBusRegistrationContext>();
        var handle = bus.ConnectReceiveEndpoint(QueueNames.Results(jobId), endpoint =>
        {
            ReplyTopology.ConfigureEndpoint(endpoint, jobId);
            endpoint.ConfigureConsumer<QuestionsAnsweredConsumer>(registration);
        });
        await handle.Ready.WaitAsync(cancellation);
        return handle;
    }
}
