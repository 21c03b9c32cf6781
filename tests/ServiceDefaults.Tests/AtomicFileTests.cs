using Activations.Contracts;

namespace Activations.ServiceDefaults.Tests;

public sealed class AtomicFileTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("atomic-file-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    string[] Others(string path) => Directory.GetFiles(folder).Where(f => f != path).ToArray();

    [Fact]
    public void A_write_replaces_the_file_whole_and_leaves_no_temporary()
    {
        var path = Path.Combine(folder, "stats.json");
        AtomicFile.WriteAllText(path, "old");
        AtomicFile.WriteAllText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Empty(Others(path));
    }

    [Fact]
    public void A_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary()
    {
        var path = Path.Combine(folder, "manifest.json");
        AtomicFile.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write("half"u8);
            throw new InvalidOperationException("the serializer failed");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Empty(Others(path));
    }

    [Fact]
    public void A_folder_that_cannot_be_written_is_bad_input_naming_the_file()
    {
        var path = Path.Combine(folder, "missing", "layer_6_activations.pt");
        var error = Assert.Throws<InvalidInputException>(() => AtomicFile.WriteAllText(path, "x"));
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void A_finished_download_is_moved_into_place_replacing_nothing_but_its_name()
    {
        var partial = Path.Combine(folder, "blob.incomplete");
        var blob = Path.Combine(folder, "blob");
        File.WriteAllText(partial, "bytes");
        AtomicFile.MoveIntoPlace(partial, blob);
        Assert.Equal("bytes", File.ReadAllText(blob));
        Assert.False(File.Exists(partial));
    }
}
