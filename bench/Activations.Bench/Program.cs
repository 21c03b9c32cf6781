using Activations.Bench;

// Usage: dotnet run --project bench/Activations.Bench -c Release -- engine [--dtypes float32,bf16,bf16-not-native] [--cases short,responses,mixed,long-2048,long-4096] [--not-native-cases short,mixed] [--alone-cases short,responses,mixed] [--batch-size 32] [--seed-style]
//        dotnet run --project bench/Activations.Bench -c Release -- pipeline [--questions 100000] [--batch-size 256] [--cases "hook_embed;6,12,18,24"] [--modes embedded,distributed] [--baseline other/Activations.Bench.dll]   (needs the test servers)
//        (--cases: separated by ';', each a --hooks list (hook_embed, blocks.L.hook_resid_post, ...) or a --layers list)
//        dotnet run --project bench/Activations.Bench -c Release -- assembly [--questions 100000] [--hooks 4] [--width 1536] [--old]   (needs the test servers; --questions takes a list: 25000,100000)
//        Activations.Bench gpu-parity [--fixtures tests/fixtures/parity] [--device cuda] [--dtypes float32,float16,bfloat16] [--json gpu-parity.json]
//        Activations.Bench gpu-speed [--device cuda] [--dtypes float16] [--batches 1,8,32,128,512] [--cases short,prompts-512] [--seconds 1] [--json gpu-speed.json] [--inputs gpu-inputs.json]
//        Activations.Bench gpu-ops [--device cuda] [--dtype float16] [--shapes 512x14,8x512,128x14]   (each step of one layer timed alone)
//        (the GPU modes run on a GPU machine from a self-contained publish: docs/gpu.md)
//        dotnet run --project bench/Activations.Bench -c Release -- matmul-ceiling [--dtypes float32,bf16] [--rows 14,34,128,512,2048] [--seconds 5]   (the linear layers alone: what batching can gain)
//        dotnet run --project bench/Activations.Bench -c Release -- engine-families [--batches 8,32] [--models qwen2-1.5b,llama-8b,qwen3-8b]   (bf16; ~11 GB per 8B case)
var mode = args.FirstOrDefault() ?? "engine";
string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
switch (mode)
{
    case "engine":
        EngineBenchmark.Run((Option("--dtypes") ?? "float32,bf16,bf16-not-native").Split(','), (Option("--cases") ?? string.Join(",", BenchCases.All)).Split(','),
            (Option("--not-native-cases") ?? "short,mixed").Split(','), (Option("--alone-cases") ?? "short,responses,mixed").Split(','),            int.Parse(Option("--batch-size") ?? "32"), args.Contains("--seed-style"));
        return 0;
    case "matmul-ceiling":
        MatmulCeiling.Run((Option("--dtypes") ?? "float32,bf16").Split(','), [.. (Option("--rows") ?? "14,34,128,512,2048").Split(',').Select(int.Parse)], double.Parse(Option("--seconds") ?? "5", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "engine-families":
        FamiliesBenchmark.RunFamilies(int.Parse(Option("--repeat") ?? "1"), (Option("--batches") ?? "8,32").Split(',').Select(int.Parse).ToArray(), (Option("--models") ?? "qwen2-1.5b,llama-8b,qwen3-8b").Split(','));
        return 0;
    case "engine-case":
        EngineBenchmark.RunCase(args[1], args[2].Split(','), args[3].Split(','), int.Parse(args[4]), args[5] == "seed-style");
        return 0;
    case "engine-families-case":
        FamiliesBenchmark.RunCase(args[1], args[2].Split(',').Select(int.Parse).ToArray(), int.Parse(args[3]), args[4]);
        return 0;
    case "gpu-parity":
        return GpuBenchmark.Parity(Option("--fixtures") ?? Path.Combine("tests", "fixtures", "parity"), Option("--device") ?? "cuda",
            (Option("--dtypes") ?? "float32,float16,bfloat16").Split(','), Option("--json") ?? "gpu-parity.json");
    case "gpu-speed":
        GpuBenchmark.Speed(Option("--device") ?? "cuda", (Option("--dtypes") ?? "float16").Split(','), (Option("--batches") ?? "1,8,32,128,512").Split(',').Select(int.Parse).ToArray(),
            (Option("--cases") ?? "short,prompts-512").Split(','), Option("--json") ?? "gpu-speed.json", Option("--inputs") ?? "gpu-inputs.json", double.Parse(Option("--seconds") ?? "1", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "gpu-ops":
        GpuBenchmark.Ops(Option("--device") ?? "cuda", Option("--dtype") ?? "float16",
            [.. (Option("--shapes") ?? "512x14,8x512,128x14").Split(',').Select(s => s.Split('x')).Select(p => (int.Parse(p[0]), int.Parse(p[1])))]);
        return 0;
    case "pipeline":
        PipelineBenchmark.Run(int.Parse(Option("--questions") ?? "100000"), int.Parse(Option("--batch-size") ?? "256"),
            (Option("--cases") ?? "hook_embed;6,12,18,24").Split(';'), (Option("--modes") ?? "embedded,distributed").Split(','), Option("--baseline"));
        return 0;
    case "pipeline-case":
        await PipelineBenchmark.RunCaseAsync(args[1], args[2], int.Parse(args[3]), int.Parse(args[4]), args[5]);
        return 0;
    case "assembly":
        await AssemblyBenchmark.RunAsync([.. (Option("--questions") ?? "100000").Split(',').Select(int.Parse)], int.Parse(Option("--hooks") ?? "4"),
            int.Parse(Option("--width") ?? "1536"), args.Contains("--old"));
        return 0;
    case "assembly-case":
        await AssemblyBenchmark.RunCaseAsync(args[1], args[2], Guid.Parse(args[3]), int.Parse(args[4]));
        return 0;
    default:
        Console.Error.WriteLine($"unknown benchmark '{mode}': use engine, matmul-ceiling, engine-families, gpu-parity, gpu-speed, pipeline or assembly");
        return 2;
}
