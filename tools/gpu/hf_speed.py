#!/usr/bin/env python3
"""transformers' speed on the same work as `Activations.Bench gpu-speed`, for the side-by-side table (report.py).

The DeepSeek-R1-Distill-Qwen-1.5B shape with random weights, cut after layer 24 (25 of 28 layers, as the engine
stops after the deepest layer it captures), in float16, with eager and SDPA attention. Each batch is the engine's
inputs (--inputs, written by gpu-speed: the same token ids) right-padded with an attention mask; forward hooks on
layers 6, 12, 18 and 24 mean-pool the residual over real tokens in float32, and the pooled vectors are copied to the
host, as the engine returns them. Timed like the engine: one warm-up run per shape, then at least two runs and at
least --seconds seconds.
"""
import argparse
import json
import sys
import time

import torch
import transformers
from transformers import Qwen2Config, Qwen2Model

LAYERS = (6, 12, 18, 24)


def build(dtype):
    config = Qwen2Config(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=max(LAYERS) + 1,
                         num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=131072, rope_theta=10000.0,
                         rms_norm_eps=1e-6, tie_word_embeddings=False, use_sliding_window=False)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen2Model(config)
    return model.to(dtype).eval()


def use_attention(model, implementation):
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(implementation)
    else:
        model.config._attn_implementation = implementation
    return model.config._attn_implementation


def capture(model, rows):
    lengths = torch.tensor([len(r) for r in rows])
    length = int(lengths.max())
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
    mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).long()
    ids, mask, lengths = ids.cuda(non_blocking=True), mask.cuda(non_blocking=True), lengths.cuda(non_blocking=True)
    weights = mask.unsqueeze(-1).float()
    pooled = []

    def keep(module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        pooled.append((hidden.float() * weights).sum(1) / lengths.unsqueeze(1))

    handles = [model.layers[layer].register_forward_hook(keep) for layer in LAYERS]
    try:
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(pooled, 1).cpu(), int(mask.sum()), ids.numel()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", required=True, help="the token ids gpu-speed wrote")
    parser.add_argument("--batches", default="1,8,32,128,512")
    parser.add_argument("--attention", default="eager,sdpa")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    inputs = json.load(open(args.inputs))
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}[args.dtype]
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name(0)}", flush=True)
    started = time.time()
    model = build(dtype)
    print(f"built the {args.dtype} model in {time.time() - started:.1f} s", flush=True)
    rows = []
    for requested in args.attention.split(","):
        implementation = use_attention(model, requested)
        for case, distinct in inputs.items():
            for batch in (int(b) for b in args.batches.split(",")):
                questions = [distinct[i % len(distinct)] for i in range(batch)]
                row = {"Engine": f"transformers-{requested}", "Device": "cuda:0", "Dtype": args.dtype, "Case": case,
                       "BatchSize": batch, "Attention": implementation}
                try:
                    capture(model, questions)  # warm-up
                    torch.cuda.synchronize()
                    repeats, real, padded = 0, 0, 0
                    clock = time.perf_counter()
                    while repeats < 2 or (time.perf_counter() - clock < args.seconds and repeats < 20):
                        _, r, p = capture(model, questions)
                        repeats, real, padded = repeats + 1, real + r, padded + p
                    seconds = time.perf_counter() - clock
                    row.update(Repeats=repeats, ForwardPasses=repeats, RealTokens=real, PaddedTokens=padded, Seconds=seconds,
                               TokensPerSecond=real / seconds)
                    print(f"  {row['Engine']} ({implementation}) {case} batch {batch}: {real / seconds:.0f} real tokens/s", flush=True)
                except torch.cuda.OutOfMemoryError as e:
                    row.update(Error=f"out of memory: {str(e).splitlines()[0]}")
                    print(f"  {row['Engine']} {case} batch {batch}: out of memory", flush=True)
                    torch.cuda.empty_cache()
                rows.append(row)
    json.dump(rows, open(args.out, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
