using MassTransit;

namespace Activations.Worker.Messaging;

public static class WorkerRegistration
{
    /// <summary>Adds the capture consumer; it needs an <see cref="Capture.EngineHost"/> and <see cref="WorkerOptions"/> in the container.</summary>
    public static void AddCaptureWorker(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<CaptureQuestionBatchConsumer, CaptureQuestionBatchConsumerDefinition>();
        bus.AddConsumer<IsolatedQuestionConsumer, IsolatedQuestionConsumerDefinition>();
    }
}
