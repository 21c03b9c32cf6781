using System.Diagnostics;
using System.Text;
using Activations.Contracts;
using Activations.Coordinator.Inputs;
using static Activations.Coordinator.Tests.Samples;

namespace Activations.Coordinator.Tests;

public sealed class ResponsesJsonlReaderTests : IDisposable
{
    readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    static string Line(string pairId, string variant, string question) =>
        $"{{\"pair_id\": \"{pairId}\", \"variant\": \"{variant}\", \"question\": \"{question}\", \"response\": \"x\"}}";

    InvalidInputException ReadFails(string text, int? maxLineBytes = null)
    {
        var path = _dir.File("r.jsonl", text);
        var reader = maxLineBytes is { } max ? new ResponsesJsonlReader(max) : new ResponsesJsonlReader();
        return Assert.Throws<InvalidInputException>(() => reader.Read(path));
    }

    string PathOf => Path.Combine(_dir.Path, "r.jsonl");

    [Fact]
    public void Reads_the_sample()
    {
        var set = new ResponsesJsonlReader().Read(ResponsesJsonl);
        Assert.Equal(100, set.Count);
        Assert.True(set.TryGet("num_001", "q1", out var row));
        Assert.Equal("Which is larger: 661 or 692?", row.Question);
        Assert.Equal(1, row.Line);
        Assert.True(set.TryGet("num_001", "q2", out var q2));
        Assert.Equal(2, q2.Line);
    }

    [Fact]
    public void Skips_blank_lines_and_ignores_other_fields()
    {
        var path = _dir.File("r.jsonl", "\n" + Line("p1", "q1", "Is 3 > 2?") + "\r\n   \n" +
            "{\"question\": \"Q?\", \"extra\": {\"nested\": [1, 2]}, \"variant\": \"q2\", \"pair_id\": \"p1\"}\n");
        var set = new ResponsesJsonlReader().Read(path);
        Assert.Equal(2, set.Count);
        Assert.True(set.TryGet("p1", "q2", out var row));
        Assert.Equal(4, row.Line);
    }

    [Fact]
    public void Missing_file()
    {
        var path = Path.Combine(_dir.Path, "none.jsonl");
        var e = Assert.Throws<InvalidInputException>(() => new ResponsesJsonlReader().Read(path));
        AssertNames(e, path, null, null);
    }

    [Fact]
    public void A_folder_instead_of_a_file()
    {
        var e = Assert.Throws<InvalidInputException>(() => new ResponsesJsonlReader().Read(_dir.Path));
        AssertNames(e, _dir.Path, null, null);
    }

    [Fact]
    public void Unreadable_file()
    {
        var path = _dir.File("r.jsonl", Line("p1", "q1", "Q"));
        var e = Assert.Throws<InvalidInputException>(() =>
            new ResponsesJsonlReader().Read(path, _ => throw new IOException("I/O error")));
        AssertNames(e, path, null, null);
    }

    [Fact]
    public void Empty_file()
    {
        var e = ReadFails("");
        AssertNames(e, PathOf, 1, null);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Not_utf8()
    {
        var bytes = Encoding.UTF8.GetBytes(Line("p1", "q1", "Q") + "\n{\"pair_id\": \"p2\", \"question\": \"")
            .Concat(new byte[] { 0xFF, 0xFE }).Concat(Encoding.UTF8.GetBytes("\"}\n")).ToArray();
        var path = _dir.Bytes("r.jsonl", bytes);
        var e = Assert.Throws<InvalidInputException>(() => new ResponsesJsonlReader().Read(path));
        AssertNames(e, path, 2, null);
        Assert.Contains("UTF-8", e.Message);
    }

    [Fact]
    public void Malformed_json_names_the_line()
    {
        var e = ReadFails(Line("p1", "q1", "Q") + "\n\n{\"pair_id\": \"p2\", \n");
        AssertNames(e, PathOf, 3, null);
        Assert.Contains("malformed JSON", e.Message);
    }

    [Fact]
    public void A_line_that_is_not_an_object()
    {
        var e = ReadFails(Line("p1", "q1", "Q") + "\n[1, 2]\n");
        AssertNames(e, PathOf, 2, null);
        Assert.Contains("an array", e.Message);
    }

    [Fact]
    public void Missing_question()
    {
        var e = ReadFails("{\"pair_id\": \"p1\", \"variant\": \"q1\"}\n");
        AssertNames(e, PathOf, 1, "question");
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Empty_question()
    {
        var e = ReadFails(Line("p1", "q1", "  "));
        AssertNames(e, PathOf, 1, "question");
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Question_of_the_wrong_type()
    {
        var e = ReadFails("{\"pair_id\": \"p1\", \"variant\": \"q1\", \"question\": 42}\n");
        AssertNames(e, PathOf, 1, "question");
        Assert.Contains("a number", e.Message);
    }

    [Fact]
    public void Pair_id_of_the_wrong_type()
    {
        var e = ReadFails("{\"pair_id\": 7, \"variant\": \"q1\", \"question\": \"Q\"}\n");
        AssertNames(e, PathOf, 1, "pair_id");
    }

    [Fact]
    public void Unknown_variant()
    {
        var e = ReadFails(Line("p1", "q3", "Q"));
        AssertNames(e, PathOf, 1, "variant");
    }

    [Fact]
    public void Duplicate_pair_and_variant_names_both_lines()
    {
        var e = ReadFails(Line("p1", "q1", "A") + "\n" + Line("p1", "q2", "B") + "\n" + Line("p1", "q1", "C") + "\n");
        AssertNames(e, PathOf, 3, "pair_id");
        Assert.Contains("line 1", e.Message);
        Assert.Contains("line 3", e.Message);
    }

    [Fact]
    public void An_over_long_line_is_refused_without_reading_it_whole()
    {
        // A ~20 MB question on line 2 against a 1 MiB limit: refused at the limit, quickly, naming the line.
        var path = Path.Combine(_dir.Path, "big.jsonl");
        using (var writer = new StreamWriter(path, append: false, new UTF8Encoding(false)))
        {
            writer.WriteLine(Line("p1", "q1", "short"));
            writer.Write("{\"pair_id\": \"p2\", \"variant\": \"q1\", \"question\": \"");
            var chunk = new string('x', 1 << 20);
            for (var i = 0; i < 20; i++) writer.Write(chunk);
            writer.WriteLine("\"}");
        }
        var before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<InvalidInputException>(() => new ResponsesJsonlReader(maxLineBytes: 1 << 20).Read(path));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        AssertNames(e, path, 2, null);
        Assert.Contains("longer than the limit", e.Message);
        Assert.True(allocated < 8L << 20, $"allocated {allocated} bytes reading a 20 MB line with a 1 MiB limit");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));

        // The same file passes with the default 16 MiB limit raised past the line.
        var set = new ResponsesJsonlReader(maxLineBytes: 32 << 20).Read(path);
        Assert.Equal(20 << 20, set.TryGet("p2", "q1", out var row) ? row.Question.Length : -1);
    }

    [Fact]
    public void Default_limit_is_16_MiB()
    {
        Assert.Equal(16 << 20, new ResponsesJsonlReader().MaxLineBytes);
    }
}
