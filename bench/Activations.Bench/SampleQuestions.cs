using System.IO.Compression;

namespace Activations.Bench;

static class SampleQuestions
{
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
