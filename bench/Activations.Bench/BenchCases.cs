using System.Text.Json;
using Activations.Contracts;
using Activations.Worker.Tokenization;

namespace Activations.Bench;

/// <summary>
/// The engine benchmark's inputs, built from the sample responses file with the real Qwen tokenizer's counts:
/// short (the 50 q1 questions), responses (each q1 question and its response, full text), mixed (the questions
/// with every tenth replaced by a prompt of 100 to 800 tokens), long (one prompt of 2,048 or 4,096 tokens) and, for
/// the GPU benchmark, eight prompts of 512 tokens.
/// </summary>
static class BenchCases
{
    public static readonly string[] All = ["short", "responses", "mixed", "long-2048", "long-4096"];

    public static string[] Build(string name, QuestionTokenizer tokenizer)
    {
        var records = File.ReadLines(Path.Combine(AppContext.BaseDirectory, "samples", "model_1.5B_responses.jsonl"))
            .Where(l => l.Trim().Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("variant").GetString() == "q1")
            .Select(e => (Question: e.GetProperty("question").GetString()!, Response: e.GetProperty("response").GetString()!))
            .ToArray();
        var questions = records.Select(r => r.Question).ToArray();
        var fullTexts = records.Select(r => $"{r.Question}\n{r.Response}").ToArray();
        return name switch
        {
            "short" => questions,
            "responses" => fullTexts,
            // Questions 0, 10, 20, ... become prompts of 100, 275, 450, 625 and 800 tokens.
            "mixed" => questions.Select((q, i) => i % 10 == 0 ? Prompt(tokenizer, fullTexts, 100 + 175 * (i / 10 % 5), i) : q).ToArray(),
            "long-2048" => [Prompt(tokenizer, fullTexts, 2048, 0)],
            "long-4096" => [Prompt(tokenizer, fullTexts, 4096, 0)],
            // The GPU benchmark's long case: eight different prompts of exactly 512 tokens, cycled to fill a batch.
            "prompts-512" => [.. Enumerable.Range(0, 8).Select(i => Prompt(tokenizer, fullTexts, 512, 6 * i))],
            _ => throw new ArgumentException($"unknown case '{name}': use {string.Join(", ", All)}"),
        };
    }

    /// <summary>A chain-of-thought-like prompt: sample exchanges one after another from <paramref name="first"/>, cut to <paramref name="tokens"/> tokens.</summary>
    internal static string Prompt(QuestionTokenizer tokenizer, string[] texts, int tokens, int first)
    {
        var pieces = new List<string>();
        var index = first;
        while (tokenizer.Encode(string.Join("\n\n", pieces), BosPolicy.NoBos).Length < tokens)
        {
            pieces.Add(texts[index++ % texts.Length]);
        }
        // Drop words from the end until the count fits.
        var words = string.Join("\n\n", pieces).Split(' ').ToList();
        while (tokenizer.Encode(string.Join(' ', words), BosPolicy.NoBos).Length > tokens)
        {
            words.RemoveAt(words.Count - 1);
        }
        return string.Join(' ', words);
    }
}
