using Activations.Contracts;
using Activations.Coordinator.Inputs;
using Activations.Coordinator.Jobs;

namespace Activations.Coordinator.Tests;

/// <summary>The prompt file reader and the template: file order, both formats, and every refusal naming file, line and field.</summary>
public class PromptFileTests
{
    static readonly PromptFields Fields = new("question", "id", "label");

    [Fact]
    public void Jsonl_and_csv_read_the_same_rows_in_file_order()
    {
        using var temp = new TempFolder();
        var jsonl = temp.File("p.jsonl", "{\"id\": \"b\", \"question\": \"Is 2 > 1?\", \"label\": true}\n\n{\"id\": 7, \"question\": \"x, y\", \"label\": \"no\"}\n");
        var csv = temp.File("p.csv", "label,question,id\ntrue,Is 2 > 1?,b\nno,\"x, y\",7\n");
        var expected = new[] { ("b", "Is 2 > 1?", "true"), ("7", "x, y", "no") };
        foreach (var path in new[] { jsonl, csv })
        {
            var rows = new PromptFileReader().Read(path, Fields);
            Assert.Equal(expected, rows.Select(r => (r.Id, r.Text, r.Label!)));
        }
        Assert.Equal([1, 3], new PromptFileReader().Read(jsonl, Fields).Select(r => r.Line));
    }

    [Fact]
    public void The_format_is_read_from_the_content_when_the_extension_says_nothing()
    {
        using var temp = new TempFolder();
        var jsonl = temp.File("p.txt", "\n{\"id\": \"a\", \"question\": \"q\"}\n");
        var csv = temp.File("p.data", "id,question\na,q\n");
        var noLabel = Fields with { Label = null };
        Assert.Equal("a", Assert.Single(new PromptFileReader().Read(jsonl, noLabel)).Id);
        Assert.Equal("a", Assert.Single(new PromptFileReader().Read(csv, noLabel)).Id);
    }

    public static TheoryData<string, string, int, string?, string> Refusals => new()
    {
        { "a.jsonl", "{\"id\": \"a\", \"question\": \"q\", \"label\": \"x\"}\n{\"id\": \"a\", \"question\": \"r\", \"label\": \"x\"}\n", 2, "id", "duplicate id 'a' (first on line 1, again on line 2)" },
        { "a.jsonl", "{\"id\": \"a\", \"label\": \"x\"}\n", 1, "question", "is missing" },
        { "a.jsonl", "{\"id\": \"a\", \"question\": 3, \"label\": \"x\"}\n", 1, "question", "expected a string, got a number" },
        { "a.jsonl", "{\"id\": \"a\", \"question\": \"q\", \"label\": null}\n", 1, "label", "expected a string, number or boolean, got null" },
        { "a.jsonl", "{\"id\": \"a\", \"question\": \"  \", \"label\": \"x\"}\n", 1, "question", "is empty" },
        { "a.jsonl", "[1]\n", 1, null, "expected a JSON object, got an array" },
        { "a.jsonl", "", 1, null, "file is empty" },
        { "a.jsonl", "\n\n", 1, null, "file has no prompts" },
        { "a.csv", "", 1, null, "file is empty" },
        { "a.csv", "id,question,label\n", 1, null, "file has no prompts" },
        { "a.csv", "id,text,label\na,q,x\n", 1, "question", "missing column (header has: id, text, label)" },
        { "a.csv", "id,question,label\na,q,x\nb,r\n", 3, "label", "record has 2 fields but the header has 3" },
        { "a.csv", "id,question,label\na,q,x\na,r,y\n", 3, "id", "duplicate id 'a' (first on line 2, again on line 3)" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Bad_prompt_files_are_refused_naming_file_line_and_field(string name, string content, int line, string? field, string reason)
    {
        using var temp = new TempFolder();
        var path = temp.File(name, content);
        var e = Assert.Throws<InvalidInputException>(() => new PromptFileReader().Read(path, Fields));
        Samples.AssertNames(e, path, line, field);
        Assert.Equal(reason, e.Reason);
    }

    [Fact]
    public void A_line_over_the_limit_is_refused_without_reading_it()
    {
        using var temp = new TempFolder();
        var path = temp.File("a.jsonl", "{\"id\": \"a\", \"question\": \"" + new string('x', 200) + "\"}\n");
        var e = Assert.Throws<InvalidInputException>(() => new PromptFileReader(maxLineBytes: 100).Read(path, Fields with { Label = null }));
        Samples.AssertNames(e, path, 1, null);
    }

    [Fact]
    public void The_template_holds_text_exactly_once()
    {
        Assert.Equal("<｜User｜>Hi<｜Assistant｜>", PromptTemplate.Parse("<｜User｜>{text}<｜Assistant｜>").Apply("Hi"));
        Assert.True(PromptTemplate.Parse(null).IsIdentity);
        Assert.Equal("{text} stays", PromptTemplate.Parse(null).Apply("{text} stays"));
        Assert.Equal("--prompt-template", Assert.Throws<InvalidInputException>(() => PromptTemplate.Parse("no placeholder")).File);
        Assert.Contains("not more", Assert.Throws<InvalidInputException>(() => PromptTemplate.Parse("{text}{text}")).Message);
    }
}
