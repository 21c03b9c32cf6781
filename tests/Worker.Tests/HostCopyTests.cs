using Activations.Worker.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Activations.Worker.Tests;

/// <summary>The block copy gives what TorchSharp's element-by-element accessor gives, for any layout and dtype.</summary>
public class HostCopyTests
{
    [Fact]
    public void A_contiguous_tensor_copies_in_row_major_order()
    {
        using var tensor = torch.arange(0, 12, ScalarType.Float32).reshape(3, 4);
        Assert.Equal(tensor.data<float>().ToArray(), HostCopy.ToArray<float>(tensor));
    }

    [Fact]
    public void A_transposed_or_sliced_view_copies_its_logical_order_not_its_storage()
    {
        using var tensor = torch.arange(0, 12, ScalarType.Float32).reshape(3, 4);
        using var transposed = tensor.t();
        using var sliced = tensor.narrow(1, 1, 2);
        Assert.Equal([0f, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11], HostCopy.ToArray<float>(transposed));
        Assert.Equal([1f, 2, 5, 6, 9, 10], HostCopy.ToArray<float>(sliced));
    }

    [Fact]
    public void Half_precision_and_raw_bytes_keep_every_bit()
    {
        using var tensor = torch.tensor(new float[] { 1.5f, -2.25f, 65504f }).to(ScalarType.Float16);
        var halves = HostCopy.ToArray<Half>(tensor);
        Assert.Equal([(Half)1.5f, (Half)(-2.25f), (Half)65504f], halves);
        Assert.Equal(System.Runtime.InteropServices.MemoryMarshal.AsBytes(halves.AsSpan()).ToArray(), HostCopy.Bytes(tensor));
    }

    [Fact]
    public void Reading_with_the_wrong_element_size_is_refused()
    {
        using var tensor = torch.zeros(4, ScalarType.Float16);
        Assert.Throws<ArgumentException>(() => HostCopy.ToArray<float>(tensor));
    }
}
