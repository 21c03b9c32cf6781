using System.Text.Json;
using Activations.Contracts;
using Activations.Worker.Tokenization;

namespace Activations.Worker.Tests;

public class TokenizerTests
{
    static QuestionTokenizer ParityTokenizer() => QuestionTokenizer.Load(Path.Combine(Fixtures.ParityModel, "tokenizer.json"), Path.Combine(Fixtures.ParityModel, "tokenizer_config.json"));

    [Fact]
    public void The_real_qwen_tokenizer_splits_digits_one_per_token()
    {
        using var tokenizer = QuestionTokenizer.Load(Path.Combine(Fixtures.RealTokenizerFolder, "tokenizer.json"), Path.Combine(Fixtures.RealTokenizerFolder, "tokenizer_config.json"));
        Assert.Equal([23085, 374, 8131, 25, 220, 23, 19, 22, 476, 220, 23, 18, 24, 30], tokenizer.Encode("Which is larger: 847 or 839?", BosPolicy.NoBos));
    }

    [Fact]
    public void The_real_qwen_tokenizer_gives_the_reference_ids_for_every_string()
    {
        using var tokenizer = QuestionTokenizer.Load(Path.Combine(Fixtures.RealTokenizerFolder, "tokenizer.json"), Path.Combine(Fixtures.RealTokenizerFolder, "tokenizer_config.json"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Root, "parity", "real-tokenizer.json")));
        var strings = doc.RootElement.GetProperty("strings").EnumerateArray().ToArray();
        Assert.Equal(8, strings.Length);
        foreach (var entry in strings)
        {
            var expected = entry.GetProperty("ids_npm").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(expected, tokenizer.Encode(entry.GetProperty("text").GetString()!, BosPolicy.NoBos));
        }
    }

    [Fact]
    public void The_real_llama_tokenizer_gives_the_reference_ids_for_every_string()
    {
        // DeepSeek-R1-Distill-Llama-like: Llama 3.1's BPE (digits grouped in threes) with DeepSeek's added tokens.
        using var tokenizer = QuestionTokenizer.Load(Path.Combine(Fixtures.RealLlamaTokenizerFolder, "tokenizer.json"), Path.Combine(Fixtures.RealLlamaTokenizerFolder, "tokenizer_config.json"));
        Assert.Equal(128000, tokenizer.BosTokenId);
        Assert.Equal([23956, 374, 8294, 25, 220, 25125, 477, 220, 25465, 30], tokenizer.Encode("Which is larger: 847 or 839?", BosPolicy.NoBos));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Root, "parity", "llama", "real-tokenizer.json")));
        var strings = doc.RootElement.GetProperty("strings").EnumerateArray().ToArray();
        Assert.Equal(5, strings.Length);
        foreach (var entry in strings)
        {
            var expected = entry.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var text = entry.GetProperty("text").GetString()!;
            Assert.Equal(expected, tokenizer.Encode(text, BosPolicy.NoBos));
            Assert.Equal([128000, .. expected], tokenizer.Encode(text, BosPolicy.Bos));
        }
    }

    [Fact]
    public void Fixture_ids_follow_the_bos_policy_exactly()
    {
        using var tokenizer = ParityTokenizer();
        Assert.Equal(4003, tokenizer.BosTokenId);
        var questions = Fixtures.Expected.RootElement.GetProperty("questions");
        foreach (var question in questions.EnumerateArray())
        {
            var text = question.GetProperty("text").GetString()!;
            var input = question.GetProperty("input");
            Assert.Equal(input.GetProperty("no-bos").EnumerateArray().Select(e => e.GetInt32()), tokenizer.Encode(text, BosPolicy.NoBos));
            Assert.Equal(input.GetProperty("bos").EnumerateArray().Select(e => e.GetInt32()), tokenizer.Encode(text, BosPolicy.Bos));
        }
    }

    [Fact]
    public void The_post_processors_own_bos_is_not_added()
    {
        // The fixture's tokenizer.json has a TemplateProcessing post-processor that puts BOS in front by itself.
        using var raw = new Tokenizers.DotNet.Tokenizer(Path.Combine(Fixtures.ParityModel, "tokenizer.json"));
        Assert.Equal(4003u, raw.Encode("Hi")[0]);
        using var tokenizer = ParityTokenizer();
        Assert.NotEqual(4003, tokenizer.Encode("Hi", BosPolicy.NoBos)[0]);
        Assert.Equal(1, tokenizer.Encode("Hi", BosPolicy.Bos).Count(id => id == 4003));
    }

    [Fact]
    public void A_bos_already_in_the_text_is_not_doubled()
    {
        using var tokenizer = ParityTokenizer();
        var ids = tokenizer.Encode("<｜begin▁of▁sentence｜>Hi", BosPolicy.Bos);
        Assert.Equal(4003, ids[0]);
        Assert.NotEqual(4003, ids[1]);
    }
}
