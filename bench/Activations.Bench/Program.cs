using Activations.Bench;

// Usage: dotnet run --project bench/Activations.Bench -c Release -- engine [--dtypes float32,bf16,bf16-not-native] [--cases short,responses,mixed,long-2048,long-4096] [--not-native-cases short,mixed] [--alone-cases short,responses,mixed] [--batch-size 32] [--seed-style]
//        dotnet run --project bench/Activations.Bench -c Release -- pipeline [--questions 10000] [--batch-size 64] [--layers 6,12,18,24]   (needs the test servers)
var mode = args.FirstOrDefault() ?? "engine";
string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
switch (mode)
{
    case "engine":
        EngineBenchmark.Run((Option("--dtypes") ?? "float32,bf16,bf16-not-native").Split(','), (Option("--cases") ?? string.Join(",", BenchCases.All)).Split(','),
            (Option("--not-native-cases") ?? "short,mixed").Split(','), (Option("--alone-cases") ?? "short,responses,mixed").Split(','),            int.Parse(Option("--batch-size") ?? "32"), args.Contains("--seed-style"));
        return 0;
    case "engine-case":
        EngineBenchmark.RunCase(args[1], args[2].Split(','), args[3].Split(','), int.Parse(args[4]), args[5] == "seed-style");
        return 0;
    case "pipeline":
        await PipelineBenchmark.RunAsync(int.Parse(Option("--questions") ?? "10000"), int.Parse(Option("--batch-size") ?? "64"), Option("--layers") ?? "6,12,18,24");
        return 0;
    default:
        Console.Error.WriteLine($"unknown benchmark '{mode}': use engine or pipeline");
        return 2;
}
