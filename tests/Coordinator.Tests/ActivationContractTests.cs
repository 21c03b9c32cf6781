using Activations.Contracts;
using Activations.Coordinator.Assembly;
using static TorchSharp.torch;

namespace Activations.Coordinator.Tests;

public sealed class ActivationContractTests
{
    static readonly RequestedHook[] Requested = [.. new[] { 6, 12, 18, 24 }.Select(l => new RequestedHook(HookPoint.ResidPost(l), 16)),
        new RequestedHook(HookPoint.At(HookKind.MlpOut, 6), 16), new RequestedHook(HookPoint.ResidPost(30), 8)];

    static ContractViolationException Violation(int layer, Tensor faithful, Tensor unfaithful) => Violation(HookPoint.ResidPost(layer), faithful, unfaithful);

    static ContractViolationException Violation(HookPoint hook, Tensor faithful, Tensor unfaithful)
    {
        using (faithful)
        using (unfaithful)
        {
            var e = Assert.Throws<ContractViolationException>(() =>
                ActivationContract.Validate(hook, faithful, unfaithful, Requested));
            Assert.StartsWith("Phase 3 Contract Violation: ", e.Message);
            Assert.Contains(ContractViolationException.CheckName(e.Check), e.Message);
            Assert.Equal(hook, e.Hook);
            return e;
        }
    }

    [Fact]
    public void Valid_tensors_pass()
    {
        using var faithful = zeros(30, 16);
        using var unfaithful = zeros(15, 16, dtype: ScalarType.Float32);
        ActivationContract.Validate(HookPoint.ResidPost(12), faithful, unfaithful, Requested);
        using var f16 = zeros([10, 8], ScalarType.Float16);
        using var u16 = zeros([10, 8], ScalarType.Float16);
        ActivationContract.Validate(HookPoint.ResidPost(30), f16, u16, Requested);
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
    public void Check6_the_hook_must_be_one_the_job_asked_for()
    {
        var e = Violation(7, zeros(30, 16), zeros(15, 16));
        Assert.Equal(ContractCheck.RequestedHook, e.Check);
        Assert.Contains("layer 7", e.Message);
        e = Violation(HookPoint.At(HookKind.MlpOut, 12), zeros(30, 16), zeros(15, 16));
        Assert.Equal(ContractCheck.RequestedHook, e.Check);
        Assert.StartsWith("Phase 3 Contract Violation: hook not requested: blocks.12.hook_mlp_out: the job asked for [", e.Message);
    }

    [Fact]
    public void Check7_the_width_is_the_one_the_job_expects()
    {
        var e = Violation(HookPoint.At(HookKind.MlpOut, 6), zeros(30, 12), zeros(15, 12));
        Assert.Equal(ContractCheck.ExpectedWidth, e.Check);
        Assert.EndsWith("blocks.6.hook_mlp_out: 12 values per row, the job expects 16", e.Message);
    }
}
