using Activations.Coordinator.Assembly;
using static TorchSharp.torch;

namespace Activations.Coordinator.Tests;

public sealed class ActivationContractTests
{
    static readonly int[] Requested = [6, 12, 18, 24];

    static ContractViolationException Violation(int layer, Tensor faithful, Tensor unfaithful)
    {
        using (faithful)
        using (unfaithful)
        {
            var e = Assert.Throws<ContractViolationException>(() =>
                ActivationContract.Validate(layer, faithful, unfaithful, Requested));
            Assert.StartsWith("Phase 3 Contract Violation: ", e.Message);
            Assert.Contains(ContractViolationException.CheckName(e.Check), e.Message);
            Assert.Equal(layer, e.Layer);
            return e;
        }
    }

    [Fact]
    public void Valid_tensors_pass()
    {
        using var faithful = zeros(30, 16);
        using var unfaithful = zeros(15, 16, dtype: ScalarType.Float32);
        ActivationContract.Validate(12, faithful, unfaithful, Requested);
        using var f16 = zeros([10, 8], ScalarType.Float16);
        using var u16 = zeros([10, 8], ScalarType.Float16);
        ActivationContract.Validate(6, f16, u16, Requested);
    }

    [Fact]
    public void Check1_tensors_must_be_2d()
    {
        var e = Violation(6, zeros(30, 5, 16), zeros(15, 16));
        Assert.Equal(ContractCheck.TwoDimensional, e.Check);
        Assert.Contains("[30, 5, 16]", e.Message);
    }

    [Fact]
    public void Check2_at_least_10_faithful_rows()
    {
        var e = Violation(6, zeros(9, 16), zeros(15, 16));
        Assert.Equal(ContractCheck.MinFaithfulRows, e.Check);
        Assert.Contains("9 faithful rows", e.Message);
    }

    [Fact]
    public void Check3_at_least_10_unfaithful_rows()
    {
        var e = Violation(6, zeros(30, 16), zeros(9, 16));
        Assert.Equal(ContractCheck.MinUnfaithfulRows, e.Check);
    }

    [Fact]
    public void Check4_same_d_model()
    {
        var e = Violation(6, zeros(30, 16), zeros(15, 17));
        Assert.Equal(ContractCheck.SameModelDimension, e.Check);
        Assert.Contains("16", e.Message);
        Assert.Contains("17", e.Message);
    }

    [Fact]
    public void Check5_dtype_float32_or_float16()
    {
        var e = Violation(6, zeros([30, 16], ScalarType.BFloat16), zeros(15, 16));
        Assert.Equal(ContractCheck.FloatDtype, e.Check);
        Assert.Equal(ContractCheck.FloatDtype, Violation(6, zeros(30, 16), zeros([15, 16], ScalarType.Float64)).Check);
    }

    [Fact]
    public void Check6_layer_must_be_requested()
    {
        var e = Violation(7, zeros(30, 16), zeros(15, 16));
        Assert.Equal(ContractCheck.RequestedLayer, e.Check);
        Assert.Contains("layer 7", e.Message);
    }
}
