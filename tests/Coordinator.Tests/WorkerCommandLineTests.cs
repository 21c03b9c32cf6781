namespace Activations.Coordinator.Tests;

/// <summary>The worker's own options, refused before it loads anything or connects.</summary>
public class WorkerCommandLineTests
{
    [Theory]
    [InlineData("--token-budget", "0", null, "error: --token-budget: must be at least 1")]
    [InlineData("--batch-size", "0", null, "error: --batch-size: must be at least 1")]
    [InlineData("--dtype", "bfloat16", "sometimes", "error: ACTIVATIONS_CPU_BF16: unknown value 'sometimes': use auto, on or off")]
    public async Task A_bad_worker_option_is_one_line_and_exit_2(string option, string value, string? bf16Variable, string expected)
    {
        var environment = new Dictionary<string, string?> { ["ACTIVATIONS_CPU_BF16"] = bf16Variable };
        var (exitCode, _, stderr) = await CliProcess.RunAsync(CliProcess.Worker,
            ["--rabbitmq", "amqp://user:secret@127.0.0.1:1/", "--model", EngineReference.TinyModel, option, value], environment: environment);
        Assert.Equal(2, exitCode);
        Assert.Equal(expected, stderr.Trim());
    }
}
