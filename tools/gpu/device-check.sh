#!/usr/bin/env bash
# The GPU check (docs/gpu.md), in one call on a GPU machine that has PyTorch with CUDA and transformers but no .NET.
# Run from the repository root with .gpu/ made by tools/gpu/publish-bench.sh. Every step has its own time limit
# inside one overall budget; a failing step is logged and the rest still run. Results go to $OUT (default ./gpu-out):
# log.txt, abi.txt, gpu-parity.json, hf-parity.json, gpu-speed.json, hf-speed.json and report.md (the tables).
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
BUDGET=${BUDGET:-520}          # seconds for everything
SPEED_DTYPES=${SPEED_DTYPES:-float16}
HF_PARITY=${HF_PARITY:-1}     # 0: skip the transformers parity step
OPS=${OPS:-0}                 # 1: also time each step of one layer (gpu-ops)
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
started=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - started) )); }
step() {  # step NAME SECONDS command...: runs with min(SECONDS, what is left) and says how it ended
    local name=$1 limit=$2; shift 2
    local remaining; remaining=$(left)
    (( limit > remaining )) && limit=$remaining
    if (( limit < 15 )); then echo "== $name: skipped, $remaining s left"; return 99; fi
    echo "== $(date -u +%T) $name (limit $limit s)"
    local t0=$SECONDS
    timeout -k 5 "$limit" "$@"; local rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0)) s"
    return $rc
}

echo "== environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, platform; print('python', platform.python_version(), '| torch', torch.__version__, '| CUDA', torch.version.cuda, '| cuDNN', torch.backends.cudnn.version(), '| transformers', transformers.__version__, '| C++11 ABI', torch.compiled_with_cxx11_abi())"
grep -m1 "model name" /proc/cpuinfo; nproc

TORCH_LIB=$(python3 -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))")
# The CUDA runtime of PyTorch's nvidia-* wheels, for the engine's free-memory check (cudaMemGetInfo).
CUDART_DIRS=$(python3 - <<'PY'
import glob, os, site
found = set()
for root in site.getsitepackages():
    for path in glob.glob(os.path.join(root, "nvidia", "**", "libcudart.so*"), recursive=True):
        found.add(os.path.dirname(path))
print(":".join(sorted(found)))
PY
)
export LD_LIBRARY_PATH="$TORCH_LIB${CUDART_DIRS:+:$CUDART_DIRS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "libtorch: $TORCH_LIB"

BENCH=/tmp/activations-bench
rm -rf "$BENCH"; mkdir -p "$BENCH"
tar -xJf .gpu/bench.tar.xz -C "$BENCH" || { echo "no .gpu/bench.tar.xz: run tools/gpu/publish-bench.sh first"; exit 2; }
abi_check() {
    { echo "ldd -r libLibTorchSharp.so against $TORCH_LIB:"; ldd -r "$BENCH/libLibTorchSharp.so" 2>&1 | grep -E "undefined symbol|not found" | sed 's/^\s*//' | c++filt | sort -u; } > "$OUT/abi.txt"
    echo "$(grep -c "undefined symbol" "$OUT/abi.txt") undefined symbols, $(grep -c "not found" "$OUT/abi.txt") missing libraries (abi.txt)"
}
abi_check

parity() { step "engine parity on the GPU" 150 "$BENCH/Activations.Bench" gpu-parity --device cuda --dtypes float32,float16,bfloat16 --json "$OUT/gpu-parity.json"; }
parity; parity_rc=$?
if (( parity_rc != 0 && parity_rc != 1 )) && [ -d .gpu/libtorchsharp-src ]; then
    # The prebuilt glue did not run against this libtorch: build it here against this PyTorch, then try again.
    step "rebuild libLibTorchSharp.so against this PyTorch" 240 bash -c '
        cmake -S tools/gpu/libtorchsharp -B /tmp/lts -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIBTORCHSHARP_SRC=$PWD/.gpu/libtorchsharp-src \
              -DCMAKE_PREFIX_PATH=$(python3 -c "import torch; print(torch.utils.cmake_prefix_path)") > /tmp/lts-cmake.log 2>&1 || { tail -30 /tmp/lts-cmake.log; exit 1; }
        cmake --build /tmp/lts -j $(nproc) > /tmp/lts-build.log 2>&1 || { grep -m20 -B2 -A5 "error" /tmp/lts-build.log; exit 1; }
        cp /tmp/lts/libLibTorchSharp.so '"$BENCH"'/libLibTorchSharp.so' \
      && { echo "rebuilt glue:"; abi_check; parity; parity_rc=$?; }
fi

(( HF_PARITY )) && step "transformers parity" 120 python3 tools/hf-parity/hf_parity.py --out "$OUT/hf-parity.json"
(( OPS )) && step "engine steps timed alone" 90 "$BENCH/Activations.Bench" gpu-ops --device cuda --dtype float16

step "engine speed" 200 "$BENCH/Activations.Bench" gpu-speed --device cuda --dtypes "$SPEED_DTYPES" --batches 1,8,32,128,512 \
    --cases short,prompts-512 --json "$OUT/gpu-speed.json" --inputs /tmp/gpu-inputs.json
if [ -f /tmp/gpu-inputs.json ]; then
    step "transformers speed" 220 python3 tools/gpu/hf_speed.py --inputs /tmp/gpu-inputs.json --out "$OUT/hf-speed.json"
else
    echo "== transformers speed: skipped, the engine wrote no inputs"
fi
nvidia-smi --query-gpu=memory.used,temperature.gpu,clocks.sm --format=csv,noheader
python3 tools/gpu/report.py "$OUT"
echo "== done in $(( $(date +%s) - started )) s"
