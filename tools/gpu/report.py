#!/usr/bin/env python3
"""The GPU check's tables (markdown): parity of the engine and of transformers against the fixtures, and the
engine's real tokens per second next to transformers' on the same inputs, as ratios. Reads the JSON files that
device-check.sh collects in one folder; a file that is missing (a step that failed) is said, not skipped silently."""
import json
import sys
from pathlib import Path


def load(folder, name):
    path = Path(folder) / name
    return json.loads(path.read_text()) if path.exists() else None


def main(folder):
    out = []
    ours_parity = load(folder, "gpu-parity.json")
    hf_parity = load(folder, "hf-parity.json")
    out.append("## Parity with the fixtures' float32 reference (largest absolute difference over every hook, question, BOS policy, pooling, batched and alone)")
    out.append("")
    out.append("| family | dtype | Activations (TorchSharp) | tolerance | transformers eager | transformers SDPA |")
    out.append("|---|---|---:|---:|---:|---:|")
    hf = {}
    for s in (hf_parity or {}).get("summary", []):
        hf[(s["family"], s["dtype"], s["attention"])] = s["max_difference"]
    keys = []
    for r in ours_parity or []:
        if (r["Family"], r["Dtype"]) not in keys:
            keys.append((r["Family"], r["Dtype"]))
    if not keys:
        keys = sorted({(f, d) for (f, d, _) in hf})
    for family, dtype in keys:
        mine = [r for r in ours_parity or [] if r["Family"] == family and r["Dtype"] == dtype]
        ours = f'{max(r["MaxDifference"] for r in mine):.2e}' if mine else "not run"
        tolerance = f'{mine[0]["Tolerance"]:.0e}' if mine else ""
        verdict = "" if not mine else (" (pass)" if all(r["Passed"] for r in mine) else " (FAIL)")
        eager = hf.get((family, dtype, "eager"))
        sdpa = hf.get((family, dtype, "sdpa"))
        out.append(f"| {family} | {dtype} | {ours}{verdict} | {tolerance} | {'' if eager is None else f'{eager:.2e}'} | {'' if sdpa is None else f'{sdpa:.2e}'} |")
    if ours_parity is None:
        out.append("")
        out.append("gpu-parity.json is missing: the engine's parity step did not finish (see its log).")
    if hf_parity is None:
        out.append("")
        out.append("hf-parity.json is missing: the transformers parity step did not finish (see its log).")

    ours_speed = load(folder, "gpu-speed.json") or []
    hf_speed = load(folder, "hf-speed.json") or []
    out.append("")
    out.append("## Real tokens per second, DeepSeek-R1-Distill-Qwen-1.5B shape, random weights, layers 0..24, resid_post 6/12/18/24 mean-pooled")
    out.append("")
    out.append("| case | batch | Activations fp16 | transformers eager | transformers SDPA | vs eager | vs SDPA | Activations padded/real | transformers padded/real |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    cases = []
    for r in ours_speed + hf_speed:
        if (r["Case"], r["BatchSize"]) not in cases:
            cases.append((r["Case"], r["BatchSize"]))

    def find(engine, case, batch):
        return next((r for r in ours_speed + hf_speed if r["Engine"] == engine and r["Case"] == case and r["BatchSize"] == batch
                     and r["Dtype"] in ("float16", "fp16")), None)

    def rate(row):
        if row is None:
            return None
        return row.get("TokensPerSecond")

    for case, batch in cases:
        ours = find("activations", case, batch)
        eager = find("transformers-eager", case, batch)
        sdpa = find("transformers-sdpa", case, batch)
        cells = []
        for row in (ours, eager, sdpa):
            value = rate(row)
            cells.append("not run" if row is None else (row.get("Error", "failed") if value is None else f"{value:,.0f}"))
        ratios = []
        for other in (eager, sdpa):
            a, b = rate(ours), rate(other)
            ratios.append(f"{a / b:.2f}x" if a and b else "")
        padded = [f'{r["PaddedTokens"] / r["RealTokens"]:.2f}' if r and r.get("RealTokens") else "" for r in (ours, sdpa)]
        out.append(f"| {case} | {batch} | {cells[0]} | {cells[1]} | {cells[2]} | {ratios[0]} | {ratios[1]} | {padded[0]} | {padded[1]} |")
    others = [r for r in ours_speed if r["Dtype"] not in ("float16", "fp16")]
    if others:
        out.append("")
        out.append("Other dtypes (Activations): " + "; ".join(f'{r["Dtype"]} {r["Case"]} batch {r["BatchSize"]}: {r["TokensPerSecond"]:,.0f} tokens/s' for r in others))
    text = "\n".join(out) + "\n"
    (Path(folder) / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
