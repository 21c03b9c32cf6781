#!/usr/bin/env bash
# Builds what device-check.sh runs on a GPU machine without .NET: a self-contained linux-x64 publish of the benchmark
# with TorchSharp's glue alone (TorchBackend=system: libtorch comes from the machine's PyTorch), packed into
# .gpu/bench.tar.xz, plus TorchSharp's native sources for a rebuild there if the prebuilt glue does not link
# against that PyTorch (.gpu/libtorchsharp-src). .gpu/ is ignored by git; the device tool carries it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mktemp -d /tmp/activations-gpu-build.XXXXXX)
trap 'rm -rf "$build"' EXIT
# A copy without build outputs, so this restore (another package graph) leaves the checkout's obj folders alone.
tar -C "$repo" --exclude=./.git --exclude='*/bin' --exclude='*/obj' --exclude=./.gpu --exclude=./.ci-state -cf - . | tar -C "$build" -xf -
dotnet publish "$build/bench/Activations.Bench" -c Release -r linux-x64 --self-contained -p:TorchBackend=system \
    -p:RestoreLockedMode=false -o "$build/publish" -nologo -v:q
if ls "$build/publish" | grep -E '^libtorch(_cpu)?\.so' >/dev/null; then
    echo "the publish holds a libtorch: it would shadow the machine's" >&2; exit 1
fi
mkdir -p "$repo/.gpu"
tar -C "$build/publish" -cf - . | xz -T0 -6 > "$repo/.gpu/bench.tar.xz"
torchsharp=${TORCHSHARP_SOURCE:-}
if [ -n "$torchsharp" ]; then
    rm -rf "$repo/.gpu/libtorchsharp-src"
    cp -r "$torchsharp/src/Native/LibTorchSharp" "$repo/.gpu/libtorchsharp-src"
fi
du -sh "$repo/.gpu"/*
