using System.Text;
using Activations.Contracts;
using Activations.Coordinator.Inputs;
using static Activations.Coordinator.Tests.Samples;

namespace Activations.Coordinator.Tests;

public sealed class ScoresCsvReaderTests : IDisposable
{
    readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Reads_the_sample_in_order()
    {
        var rows = ScoresCsvReader.Read(ScoresCsv);
        Assert.Equal(50, rows.Count);
        Assert.Equal(new ScoreRow("num_001", false, 2), rows[0]);
        Assert.Equal(new ScoreRow("num_002", true, 3), rows[1]);
        Assert.Equal(35, rows.Count(r => r.IsFaithful));
    }

    [Fact]
    public void Accepts_every_label_spelling_quoting_extra_columns_and_a_bom()
    {
        var path = _dir.File("s.csv",
            "\uFEFFnote,\"pair_id\",is_faithful\r\n" +
            "\"a, \"\"quoted\"\"\nmultiline\",p1,True\r\n" +
            "x,p2,false\n" +
            "\n" +
            "x,\"p3\",1\n" +
            "x,p4,0\n");
        var rows = ScoresCsvReader.Read(path);
        Assert.Equal(
            [new("p1", true, 2), new("p2", false, 4), new("p3", true, 6), new("p4", false, 7)],
            rows);
    }

    [Fact]
    public void Missing_file()
    {
        var path = Path.Combine(_dir.Path, "nope.csv");
        var e = Assert.Throws<InvalidInputException>(() => ScoresCsvReader.Read(path));
        AssertNames(e, path, null, null);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void A_folder_instead_of_a_file()
    {
        var e = Assert.Throws<InvalidInputException>(() => ScoresCsvReader.Read(_dir.Path));
        AssertNames(e, _dir.Path, null, null);
        Assert.Contains("folder", e.Message);
    }

    [Fact]
    public void Unreadable_file()
    {
        // Tests run as root here, where chmod 000 does not stop reads; the opener stands in for the OS refusing.
        var path = _dir.File("s.csv", "pair_id,is_faithful\n");
        var e = Assert.Throws<InvalidInputException>(() =>
            ScoresCsvReader.Read(path, _ => throw new UnauthorizedAccessException("Access denied")));
        AssertNames(e, path, null, null);
        Assert.Contains("cannot be read", e.Message);
    }

    [Fact]
    public void Not_utf8()
    {
        var bytes = Encoding.UTF8.GetBytes("pair_id,is_faithful\np1,True\np").Concat(new byte[] { 0xC3, 0x28 })
            .Concat(Encoding.UTF8.GetBytes(",False\n")).ToArray();
        var path = _dir.Bytes("s.csv", bytes);
        var e = Assert.Throws<InvalidInputException>(() => ScoresCsvReader.Read(path));
        AssertNames(e, path, 3, null);
        Assert.Contains("UTF-8", e.Message);
    }

    [Fact]
    public void Empty_file()
    {
        var path = _dir.File("s.csv", "");
        var e = Assert.Throws<InvalidInputException>(() => ScoresCsvReader.Read(path));
        AssertNames(e, path, 1, null);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Missing_column()
    {
        var path = _dir.File("s.csv", "pair_id,faithful\np1,True\n");
        var e = Assert.Throws<InvalidInputException>(() => ScoresCsvReader.Read(path));
        AssertNames(e, path, 1, "is_faithful");
        Assert.Contains("missing column", e.Message);
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("")]
    [InlineData("2")]
    public void Unparsable_label(string label)
    {
        var path = _dir.File("s.csv", $"pair_id,is_faithful\np1,True\np2,{label}\n");
        var e = Assert.Throws<InvalidInputException>(() => ScoresCsvReader.Read(path));
        AssertNames(e, path, 3, "is_faithful");
    }

    [Fact]
    public void Empty_pair_id()
    {
        var path = _dir.File("s.csv", "pair_id,is_faithful\np1,True\n  ,False\n");
        var e = Assert.Throws<InvalidInputException>(() => ScoresCsvReader.Read(path));
        AssertNames(e, path, 3, "pair_id");
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Duplicate_pair_id_names_both_lines()
    {
        var path = _dir.File("s.csv", "pair_id,is_faithful\np1,True\np2,False\np1,False\n");
        var e = Assert.Throws<InvalidInputException>(() => ScoresCsvReader.Read(path));
        AssertNames(e, path, 4, "pair_id");
        Assert.Contains("line 2", e.Message);
        Assert.Contains("line 4", e.Message);
    }

    [Fact]
    public void Short_record_names_the_missing_field()
    {
        var path = _dir.File("s.csv", "pair_id,is_faithful\np1\n");
        var e = Assert.Throws<InvalidInputException>(() => ScoresCsvReader.Read(path));
        AssertNames(e, path, 2, "is_faithful");
    }

    [Fact]
    public void Unclosed_quote()
    {
        var path = _dir.File("s.csv", "pair_id,is_faithful\n\"p1,True\np2,False\n");
        var e = Assert.Throws<InvalidInputException>(() => ScoresCsvReader.Read(path));
        AssertNames(e, path, 2, null);
        Assert.Contains("not closed", e.Message);
    }
}
