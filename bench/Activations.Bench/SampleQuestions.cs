using System.IO.Compression;
using System.Text.Json;

namespace Activations.Bench;

static class SampleQuestions
{
    /// <summary>The q1 questions of the sample responses file.</summary>
    public static string[] Load()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "samples", "model_1.5B_responses.jsonl");
        return File.ReadLines(path)
            .Where(l => l.Trim().Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("variant").GetString() == "q1")
            .Select(e => e.GetProperty("question").GetString()!)
            .ToArray();
    }

    /// <summary>The full Qwen tokenizer (decompressed to a temp folder), so token counts are the real ones.</summary>
    public static string TokenizerFolder()
    {
        var folder = Directory.CreateTempSubdirectory("activations-bench-tokenizer-").FullName;
        using (var input = new GZipStream(File.OpenRead(Path.Combine(AppContext.BaseDirectory, "qwen-tokenizer", "tokenizer.json.gz")), CompressionMode.Decompress))
        using (var output = File.Create(Path.Combine(folder, "tokenizer.json")))
        {
            input.CopyTo(output);
        }
        File.Copy(Path.Combine(AppContext.BaseDirectory, "qwen-tokenizer", "tokenizer_config.json"), Path.Combine(folder, "tokenizer_config.json"));
        return folder;
    }
}
