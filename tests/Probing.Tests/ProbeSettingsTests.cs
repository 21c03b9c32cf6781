using Activations.Contracts;

namespace Activations.Probing.Tests;

public class ProbeSettingsTests
{
    [Theory]
    [InlineData(2, 10, 1000, "--folds")]
    [InlineData(5, 0, 1000, "--repeats")]
    [InlineData(5, 10, 0, "--permutations")]
    public void Options_below_their_minimum_are_bad_input(int folds, int repeats, int permutations, string option)
    {
        var error = Assert.Throws<InvalidInputException>(() => ProbeSettings.Validate("data/activations", null, folds, repeats, permutations, 0));
        Assert.Equal(option, error.File);
    }

    [Fact]
    public void The_output_defaults_to_a_probes_folder_inside_the_activations()
    {
        Assert.Equal(Path.Combine("data/activations", "probes"), ProbeSettings.Validate("data/activations", null, 5, 10, 1000, 0).Out);
        Assert.Equal("elsewhere", ProbeSettings.Validate("data/activations", "elsewhere", 5, 10, 1000, 0).Out);
    }
}
