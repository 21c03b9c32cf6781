using Activations.Contracts;
using Activations.Contracts.Messages;
using Activations.Coordinator.Messaging;

namespace Activations.Coordinator.Tests;

/// <summary>Every check a result must pass before it is stored, one bad field at a time next to a good result.</summary>
public class ResultValidatorTests
{
    static readonly Guid JobId = Guid.NewGuid();
    static readonly HookPoint L6 = HookPoint.ResidPost(6);
    static readonly HookPoint L12 = HookPoint.ResidPost(12);

    static readonly ResultExpectation Job = new(JobId, "running", "abcdef0123456789", 10,
        new Dictionary<string, int> { [L6.Name] = 4, [L12.Name] = 4 }, new Dictionary<int, string> { [3] = "p_3" });

    static QuestionActivationsCaptured Good() => new()
    {
        JobId = JobId,
        QuestionIndex = 3,
        PairId = "p_3",
        ModelFingerprint = "abcdef0123456789",
        Vectors = [HookVector.Pack(L6, [1, 2, 3, 4]), HookVector.Pack(L12, [5, 6, 7, 8])],
        TokenCount = 12,
        Dtype = "float32",
        Device = "cpu",
        Worker = "w",
    };

    [Fact]
    public void A_good_result_passes() => Assert.Null(ResultValidator.Problem(Good(), Job));

    public static TheoryData<string, Func<QuestionActivationsCaptured, QuestionActivationsCaptured>, string> Bad => new()
    {
        { "short vector", r => r with { Vectors = [HookVector.Pack(L6, [1, 2, 3]), r.Vectors[1]] }, "hook blocks.6.hook_resid_post: 12 bytes, expected 16" },
        { "wrong width", r => r with { Vectors = [r.Vectors[0], HookVector.Pack(L12, [1, 2, 3, 4, 5])] }, "hook blocks.12.hook_resid_post: 20 bytes, expected 16" },
        { "odd byte length", r => r with { Vectors = [r.Vectors[0], new HookVector(L12, new byte[15])] }, "15 bytes, expected 16" },
        { "NaN", r => r with { Vectors = [HookVector.Pack(L6, [1, float.NaN, 3, 4]), r.Vectors[1]] }, "value 1 is NaN" },
        { "infinity", r => r with { Vectors = [r.Vectors[0], HookVector.Pack(L12, [1, 2, 3, float.PositiveInfinity])] }, "value 3 is Infinity" },
        { "17-character dtype", r => r with { Dtype = "float32-and-more!" }, "dtype 'float32-and-more!' is not one of" },
        { "another job's id", r => r with { JobId = Guid.NewGuid() }, "does not exist" },
        { "question outside the job", r => r with { QuestionIndex = 10 }, "question 10 is not one of the job's 10" },
        { "another question's pair", r => r with { PairId = "p_4" }, "question 3 is pair p_3, not 'p_4'" },
        { "another model", r => r with { ModelFingerprint = "0000000000000000" }, "computed by model '0000000000000000'" },
        { "a missing hook", r => r with { Vectors = [r.Vectors[0]] }, "1 vectors; the job asked for 2 hooks" },
        { "a hook not asked for", r => r with { Vectors = [r.Vectors[0], HookVector.Pack(HookPoint.ResidPost(18), [1, 2, 3, 4])] }, "hook 'blocks.18.hook_resid_post' is not one the job asked for" },
        { "a hook twice", r => r with { Vectors = [r.Vectors[0], r.Vectors[0]] }, "hook blocks.6.hook_resid_post appears twice" },
        { "NUL in the worker", r => r with { Worker = "w\0x" }, "worker holds a NUL character" },
        { "an over-long pair id", r => r with { PairId = new string('p', 257) }, "pair id of 257 characters (at most 256)" },
        { "an empty device", r => r with { Device = "" }, "empty device" },
        { "no tokens", r => r with { TokenCount = 0 }, "token count 0 is below 1" },
    };

    [Theory]
    [MemberData(nameof(Bad))]
    public void A_bad_result_is_refused_with_its_reason(string name, Func<QuestionActivationsCaptured, QuestionActivationsCaptured> spoil, string reason)
    {
        var problem = ResultValidator.Problem(spoil(Good()), Job);
        Assert.True(problem is not null && problem.Contains(reason), $"{name}: {problem ?? "accepted"}");
    }

    [Fact]
    public void A_result_for_a_job_that_no_longer_runs_is_refused()
    {
        Assert.Equal($"job {JobId} is completed, not running", ResultValidator.Problem(Good(), Job with { Status = "completed" }));
        Assert.Equal($"job {JobId} does not exist", ResultValidator.Problem(Good(), null));
    }
}
