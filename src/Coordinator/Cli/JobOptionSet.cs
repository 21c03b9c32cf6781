using System.CommandLine;
using Activations.Contracts;
using Activations.Coordinator.Jobs;
using Activations.ServiceDefaults;

namespace Activations.Coordinator.Cli;

/// <summary>The options `run` and `capture` share, declared once: added to a command and read into its <see cref="JobOptions"/>.</summary>
sealed class JobOptionSet(string outDescription)
{
    readonly Option<string> model = new("--model") { Description = "A local Hugging Face model folder, or a Hub id (org/name) resolved through the Hugging Face cache", Required = true };
    readonly Option<string> output = new("--out") { Description = outDescription, Required = true };
    readonly Option<string?> revision = new("--revision") { Description = "Hub revision: branch, tag or commit (default: main)" };
    readonly Option<string?> layers = new("--layers") { Description = "Decoder layers L whose output blocks.L.hook_resid_post is captured, comma-separated (with neither --layers nor --hooks: 6,12,18,24)" };
    readonly Option<string?> hooks = new("--hooks") { Description = HookSelection.Help + "; with --layers, both are captured" };
    readonly Option<string> format = new("--format") { Description = "pt, or pt,safetensors to also write each hook as a .safetensors file", DefaultValueFactory = _ => "pt" };
    readonly Option<string> pooling = new("--pooling") { Description = "mean (over all tokens), last (the last token) or mean-no-bos (mean without a leading BOS)", DefaultValueFactory = _ => "mean" };
    readonly Option<bool> prependBos = new("--prepend-bos") { Description = "Put the tokenizer's BOS token once in front of each question (default: the family's TransformerLens default: off for Qwen2, on for Llama and Qwen3)" };
    readonly Option<bool> noPrependBos = new("--no-prepend-bos") { Description = "No BOS in front of the questions, whatever the family's default" };
    readonly Option<string> device = new("--device") { Description = "auto (CUDA when present, else the CPU), cpu, cuda, cuda:N, or a list (cuda:0,cuda:1) to split the local worker's model over several GPUs", DefaultValueFactory = _ => "auto" };
    readonly Option<string> dtype = new("--dtype") { Description = "auto (fp16 on CUDA, float32 on the CPU), float32, float16 or bfloat16; fp16 on the CPU computes in float32", DefaultValueFactory = _ => "auto" };
    readonly Option<int?> batchSize = new("--batch-size") { Description = "Most questions per forward pass (default: the worker's choice, 32)" };
    readonly Option<int?> maxTokens = new("--max-tokens") { Description = $"Refuse questions longer than this many tokens (default {CaptureSpec.DefaultMaxTokens}, what a worker can hold; never more than the model's context)", DefaultValueFactory = _ => CaptureSpec.DefaultMaxTokens };
    readonly Option<string?> promptTemplate = new("--prompt-template") { Description = "Wrap each text before tokenising; must contain {text} once, e.g. \"<｜User｜>{text}<｜Assistant｜>\" for the R1 chat format (recorded in the manifest, part of the job key)" };
    readonly Option<string> onFailure = new("--on-failure") { Description = "What a question that cannot be captured does: fail (no files, the questions named) or drop (left out)", DefaultValueFactory = _ => "fail" };
    readonly Option<string?> rabbitmq = new("--rabbitmq") { Description = $"Distributed: RabbitMQ address amqp://user:password@host:port/vhost (or {RabbitMqEndpoint.EnvironmentVariable}); questions go to separate worker processes" };
    readonly Option<string?> rabbitmqCaFile = new("--rabbitmq-ca-file") { Description = $"With amqps://: trust only the CA certificates in this PEM file (or {RabbitMqEndpoint.CaFileEnvironmentVariable}); the chain and the host name are always verified" };
    readonly Option<string?> connectTimeout = new("--connect-timeout") { Description = $"Seconds to wait for the broker before exiting with an error (or {RabbitMqEndpoint.ConnectTimeoutEnvironmentVariable}; default 60)" };
    readonly Option<string?> postgres = new("--postgres") { Description = $"Distributed: PostgreSQL connection string \"Host=…;Username=…;Password=…;Database=…\" (or {ConnectionStrings.PostgresEnvironmentVariable}); default: SQLite in --out" };
    readonly Option<bool> localWorker = new("--local-worker") { Description = "With --rabbitmq: also run a worker in this process" };
    readonly Option<int?> stallTimeout = new("--stall-timeout") { Description = "Fail the job (exit 4) when no result has arrived for this many seconds (default: wait as long as it takes)" };
    readonly Option<bool> keepFailures = new("--keep-failures") { Description = "On a rerun, keep the failures recorded before instead of computing those questions again" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { model, output, revision, layers, hooks, format, pooling, prependBos, noPrependBos, device, dtype, batchSize, maxTokens, promptTemplate, onFailure, rabbitmq, rabbitmqCaFile, connectTimeout, postgres, localWorker, stallTimeout, keepFailures })
        {
            command.Options.Add(option);
        }
    }

    /// <summary><paramref name="options"/> (the command's own options) with the shared ones as parsed.</summary>
    public T Read<T>(ParseResult parse, T options) where T : JobOptions => options with
    {
        Model = parse.GetValue(model)!,
        Out = parse.GetValue(output)!,
        Revision = parse.GetValue(revision),
        Layers = parse.GetValue(layers),
        Hooks = parse.GetValue(hooks),
        Format = parse.GetValue(format)!,
        Pooling = parse.GetValue(pooling)!,
        PrependBos = parse.GetValue(prependBos),
        NoPrependBos = parse.GetValue(noPrependBos),
        Device = parse.GetValue(device)!,
        Dtype = parse.GetValue(dtype)!,
        BatchSize = parse.GetValue(batchSize),
        MaxTokens = parse.GetValue(maxTokens),
        PromptTemplate = parse.GetValue(promptTemplate),
        OnFailure = parse.GetValue(onFailure)!,
        RabbitMq = parse.GetValue(rabbitmq),
        RabbitMqCaFile = parse.GetValue(rabbitmqCaFile),
        ConnectTimeout = parse.GetValue(connectTimeout),
        Postgres = parse.GetValue(postgres),
        LocalWorker = parse.GetValue(localWorker),
        StallTimeout = parse.GetValue(stallTimeout),
        KeepFailures = parse.GetValue(keepFailures),
    };
}
