#!/usr/bin/env python3
"""Hugging Face transformers against the parity fixtures (tests/fixtures/parity).

Loads each fixture model (Qwen2, Llama, Qwen3) with transformers, runs every fixture question under both BOS
policies (one at a time, and all together right-padded with an attention mask), reads each TransformerLens hook
point from the model's own modules, pools it three ways and compares it with the fixture's expected vectors.
Runs in float32, float16 and bfloat16 with eager and SDPA attention. Prints a table; --out writes every row as JSON.

Hook points, read with forward hooks on Hugging Face's modules of decoder layer L:
  hook_embed                 embed_tokens' output
  blocks.L.hook_resid_pre    the layer's input (checked against output_hidden_states[L])
  blocks.L.attn.hook_z       o_proj's input: [batch, seq, heads * head_dim], head-major as o_proj reads it
  blocks.L.hook_attn_out     o_proj's output
  blocks.L.hook_resid_mid    post_attention_layernorm's input (residual + attention output)
  blocks.L.hook_mlp_out      mlp's output
  blocks.L.hook_resid_post   the layer's output (output_hidden_states[L + 1], except after the last layer, where
                             transformers hands back the final norm's output instead)
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM

FIXTURES = [("qwen2", "model", "expected-hooks.json"),
            ("llama", "llama/model", "llama/expected.json"),
            ("qwen3", "qwen3/model", "qwen3/expected.json")]
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
POOLINGS = ("mean", "last", "mean-no-bos")


def load(folder, dtype, attention, device):
    major = int(transformers.__version__.split(".")[0])
    minor = int(transformers.__version__.split(".")[1])
    # transformers renamed torch_dtype to dtype in 4.56.
    key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=attention, **{key: dtype})
    return model.to(device).eval()


def first(args, kwargs, name):
    return args[0] if args else kwargs[name]


def run(model, rows, hooks, device):
    """Right-pads rows (lists of ids) into one batch and returns {hook: float32 [batch, seq, width]} and the hidden states."""
    inner = model.model
    lengths = [len(r) for r in rows]
    length = max(lengths)
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    values = {}
    handles = []

    def keep(name):
        return lambda tensor: values.__setitem__(name, tensor.detach().float())

    layers = sorted({int(h.split(".")[1]) for h in hooks if h.startswith("blocks.")})
    handles.append(inner.embed_tokens.register_forward_hook(lambda m, a, out: keep("hook_embed")(out)))
    for layer in layers:
        block = inner.layers[layer]
        prefix = f"blocks.{layer}."
        handles.append(block.register_forward_pre_hook(
            lambda m, a, k, p=prefix: keep(p + "hook_resid_pre")(first(a, k, "hidden_states")), with_kwargs=True))
        handles.append(block.self_attn.o_proj.register_forward_pre_hook(
            lambda m, a, k, p=prefix: keep(p + "attn.hook_z")(first(a, k, "input")), with_kwargs=True))
        handles.append(block.self_attn.o_proj.register_forward_hook(lambda m, a, out, p=prefix: keep(p + "hook_attn_out")(out)))
        handles.append(block.post_attention_layernorm.register_forward_pre_hook(
            lambda m, a, k, p=prefix: keep(p + "hook_resid_mid")(first(a, k, "hidden_states")), with_kwargs=True))
        handles.append(block.mlp.register_forward_hook(lambda m, a, out, p=prefix: keep(p + "hook_mlp_out")(out)))
        handles.append(block.register_forward_hook(
            lambda m, a, out, p=prefix: keep(p + "hook_resid_post")(out[0] if isinstance(out, tuple) else out)))
    try:
        with torch.inference_mode():
            output = inner(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return values, [h.float() for h in output.hidden_states], lengths


def pool(value, length, pooling, bos):
    """value: [seq, width] of one row; pooling over its first `length` (real) tokens."""
    real = value[:length]
    if pooling == "last":
        return real[-1]
    if pooling == "mean-no-bos" and bos:
        return real[1:].mean(0)
    return real.mean(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", default=str(Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "parity"))
    parser.add_argument("--dtypes", default="float32,float16,bfloat16")
    parser.add_argument("--attention", default="eager,sdpa")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", help="write every row as JSON here")
    args = parser.parse_args()
    if args.device == "cuda":
        # The reference is float32 arithmetic: no TF32 in matmuls or convolutions.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, device {device_name}")
    rows, summary = [], []
    for family, model_path, expected_path in FIXTURES:
        expected = json.loads((Path(args.fixtures) / expected_path).read_text())
        hooks = expected["hooks"]
        questions = expected["questions"]
        for dtype_name in args.dtypes.split(","):
            for attention in args.attention.split(","):
                started = time.time()
                model = load(str(Path(args.fixtures) / model_path), DTYPES[dtype_name], attention, args.device)
                worst_hidden = 0.0
                for policy in ("no-bos", "bos"):
                    inputs = [q["input"][policy] for q in questions]
                    batched = run(model, inputs, hooks, args.device)
                    alone = [run(model, [row], hooks, args.device) for row in inputs]
                    for mode in ("batched", "one at a time"):
                        worst = {p: (0.0, "") for p in POOLINGS}
                        for q, question in enumerate(questions):
                            values, hidden, lengths = batched if mode == "batched" else alone[q]
                            row = q if mode == "batched" else 0
                            for hook in hooks:
                                if hook.endswith("hook_resid_pre"):
                                    layer = int(hook.split(".")[1])
                                    # output_hidden_states[L] is layer L's input.
                                    difference = (hidden[layer][row] - values[hook][row]).abs().max().item()
                                    worst_hidden = max(worst_hidden, difference)
                                for pooling in POOLINGS:
                                    pooled = pool(values[hook][row], lengths[row], pooling, policy == "bos").cpu()
                                    reference = torch.tensor(question["pooled"][policy][hook][pooling])
                                    difference = (pooled - reference).abs().max().item()
                                    if difference != difference:  # NaN
                                        difference = float("inf")
                                    if difference >= worst[pooling][0]:
                                        worst[pooling] = (difference, hook)
                        for pooling in POOLINGS:
                            rows.append({"family": family, "dtype": dtype_name, "attention": attention, "policy": policy,
                                         "pooling": pooling, "mode": mode, "worst_hook": worst[pooling][1],
                                         "max_difference": worst[pooling][0]})
                mine = [r for r in rows if r["family"] == family and r["dtype"] == dtype_name and r["attention"] == attention]
                top = max(mine, key=lambda r: r["max_difference"])
                summary.append({"family": family, "dtype": dtype_name, "attention": attention, "max_difference": top["max_difference"],
                                "worst": f'{top["worst_hook"]}, {top["policy"]}, {top["pooling"]}, {top["mode"]}',
                                "hidden_states_vs_hooks": worst_hidden})
                print(f"{family} {dtype_name} {attention}: largest difference {top['max_difference']:.2e} "
                      f"({summary[-1]['worst']}); output_hidden_states vs the layer-input hook: {worst_hidden:.1e}; "
                      f"{time.time() - started:.1f} s", flush=True)
                del model
    print()
    print("| family | dtype | attention | largest difference from the fixture | where | hidden_states vs hooks |")
    print("|---|---|---|---:|---|---:|")
    for s in summary:
        print(f"| {s['family']} | {s['dtype']} | {s['attention']} | {s['max_difference']:.2e} | {s['worst']} | {s['hidden_states_vs_hooks']:.1e} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__,
                                              "device": device_name, "summary": summary, "rows": rows}, indent=1))
    # float32 must agree with the independent reference as the fixture README says (atol 1e-4).
    failed = [s for s in summary if s["dtype"] == "float32" and not s["max_difference"] <= 1e-4]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
