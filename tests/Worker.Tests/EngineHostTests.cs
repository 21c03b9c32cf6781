using Activations.Contracts;
using Activations.Worker.Capture;
using Activations.Worker.Loading;
using Microsoft.Extensions.Logging.Abstractions;

namespace Activations.Worker.Tests;

/// <summary>A worker's host checks a job's spec with the same validation as the coordinator, before it touches its model.</summary>
public class EngineHostTests
{
    [Fact]
    public void A_spec_the_host_cannot_serve_is_refused_before_the_model_loads()
    {
        using var host = new EngineHost(ModelFolder.Open(Fixtures.ParityModel), ComputeDevice.Cpu, NullLogger<EngineHost>.Instance);
        var outside = Fixtures.Spec(hooks: [HookPoint.At(HookKind.MlpOut, 28)]);
        Assert.Equal($"--hooks: blocks.28.hook_mlp_out: layer 28 is outside the model ({Fixtures.ParityModel} has layers 0..27)",
            Assert.Throws<InvalidInputException>(() => host.Capture([Fixtures.Questions[0]], outside, 1)).Message);
        var cuda = Fixtures.Spec() with { Device = ComputeDevice.Cuda };
        Assert.Equal("--device: the job computes on cuda, this worker on cpu: run the coordinator with --device cpu for this worker",
            Assert.Throws<InvalidInputException>(() => host.Capture([Fixtures.Questions[0]], cuda, 1)).Message);
        Assert.False(host.IsLoaded);
    }

    [Fact]
    public void The_host_loads_only_the_layers_a_job_needs_and_reloads_for_a_deeper_one()
    {
        using var host = new EngineHost(ModelFolder.Open(Fixtures.ParityModel), ComputeDevice.Cpu, NullLogger<EngineHost>.Instance);
        host.Preload(Fixtures.Spec(hooks: [HookPoint.Embed]));
        Assert.Equal(0, host.ForwardPasses);
        var embed = host.Capture([Fixtures.Questions[0]], Fixtures.Spec(hooks: [HookPoint.Embed]), 1)[0];
        Assert.Equal(48, embed.Vectors![HookPoint.Embed].Length);
        var z = HookPoint.At(HookKind.AttnZ, 5);
        var deeper = host.Capture([Fixtures.Questions[0]], Fixtures.Spec(hooks: [z]), 1)[0];
        Assert.Equal([z], deeper.Vectors!.Keys);
        Assert.Equal(2, host.ForwardPasses);
    }
}
