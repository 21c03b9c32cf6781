"""Reference values for the yarn RoPE tests (tests/Worker.Tests/RopeTests.cs), written from the formula of
Hugging Face's _compute_yarn_parameters (transformers >= 4.56), independently of the C# code. Run with
/usr/bin/python3 (PyTorch 1.13); prints each case's float32 inv_freq and attention factor."""
import math
import torch


def yarn(head_dim, theta, max_pos, factor, original=None, beta_fast=None, beta_slow=None, mscale=None, mscale_all_dim=None,
         attention_factor=None, truncate=True):
    dim = head_dim
    original = original or max_pos

    def get_mscale(scale, m=1.0):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    if attention_factor is None:
        attention_factor = get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) if mscale and mscale_all_dim else get_mscale(factor)
    beta_fast = beta_fast or 32
    beta_slow = beta_slow or 1

    def correction_dim(rotations):
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(theta))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    extrapolation_weight = 1 - ramp
    pos_freqs = theta ** (torch.arange(0, dim, 2).float() / dim)
    inv = (1.0 / (factor * pos_freqs)) * (1 - extrapolation_weight) + (1.0 / pos_freqs) * extrapolation_weight
    return inv, attention_factor, (low, high)


cases = {
    "defaults": dict(head_dim=16, theta=10000.0, max_pos=256, factor=4.0, original=64),
    "no_original_betas_8_2": dict(head_dim=16, theta=10000.0, max_pos=64, factor=4.0, beta_fast=8.0, beta_slow=2.0),
    "mscale": dict(head_dim=16, theta=10000.0, max_pos=256, factor=4.0, original=64, mscale=0.707, mscale_all_dim=1.0),
    "untruncated": dict(head_dim=16, theta=10000.0, max_pos=256, factor=4.0, original=64, truncate=False),
    "r1_0528_qwen3_8b": dict(head_dim=128, theta=1000000.0, max_pos=131072, factor=4.0, original=32768),
}
for name, kwargs in cases.items():
    inv, attention, bounds = yarn(**kwargs)
    print(name, "bounds", bounds, "attention_factor", repr(attention))
    print("  inv_freq", [float("%.9g" % v) for v in inv.tolist()])
