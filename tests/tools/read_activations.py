#!/usr/bin/env python3
"""Reads activation files the way a researcher would, and prints what they hold as JSON.

  .pt           torch.load(path, weights_only=True)            (needs PyTorch)
  .safetensors  safetensors.torch.load_file when installed, else the format read by hand: an 8-byte little-endian
                header length, the JSON header (dtype, shape, data_offsets; __metadata__), then the bytes
                (--no-torch: with the standard library alone, values decoded with struct)

Prints {"reader": ..., "metadata": {...} or null, "tensors": {name: {"dtype", "shape", "values" (flat)}}}.
Exits 1 with the reason on anything malformed.

Usage: read_activations.py FILE [--no-torch]
"""
import json
import struct
import sys

STRUCT_CODES = {"F32": ("f", 4), "F16": ("e", 2)}


def read_safetensors_by_hand(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"header length {n} runs past the end of the file")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    body = data[8 + n :]
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("__metadata__ values must be strings")
    spans = sorted((info["data_offsets"], name) for name, info in header.items())
    end = 0
    for (begin, stop), name in spans:
        if begin != end:
            raise ValueError(f"{name}: data starts at {begin}, expected {end} (no gaps or overlaps)")
        end = stop
    if end != len(body):
        raise ValueError(f"data is {len(body)} bytes, the header covers {end}")
    tensors = {}
    for name, info in header.items():
        code, size = STRUCT_CODES[info["dtype"]]
        begin, stop = info["data_offsets"]
        count = 1
        for d in info["shape"]:
            count *= d
        if stop - begin != count * size:
            raise ValueError(f"{name}: {stop - begin} bytes for {count} x {size}")
        values = list(struct.unpack(f"<{count}{code}", body[begin:stop]))
        tensors[name] = {"dtype": info["dtype"], "shape": info["shape"], "values": values}
    return metadata, tensors, body, header


def main():
    path = sys.argv[1]
    no_torch = "--no-torch" in sys.argv[2:]
    try:
        if path.endswith(".safetensors"):
            metadata, tensors, body, header = read_safetensors_by_hand(path)
            reader = "struct"
            if not no_torch:
                import torch

                try:
                    from safetensors.torch import load_file

                    loaded = load_file(path)
                    reader = "safetensors.torch.load_file"
                except ImportError:
                    dtypes = {"F32": torch.float32, "F16": torch.float16}
                    loaded = {}
                    for name, info in header.items():
                        begin, stop = info["data_offsets"]
                        flat = torch.frombuffer(bytearray(body[begin:stop]), dtype=dtypes[info["dtype"]]) if stop > begin else torch.empty(0, dtype=dtypes[info["dtype"]])
                        loaded[name] = flat.reshape(info["shape"])
                    reader = "torch.frombuffer"
                tensors = {
                    name: {"dtype": str(t.dtype), "shape": list(t.shape), "values": t.float().flatten().tolist()}
                    for name, t in loaded.items()
                }
        else:
            import torch

            state = torch.load(path, weights_only=True)
            reader = f"torch.load(weights_only=True) {torch.__version__}"
            metadata = None
            tensors = {
                name: {"dtype": str(t.dtype), "shape": list(t.shape), "values": t.float().flatten().tolist()}
                for name, t in state.items()
            }
    except Exception as e:  # noqa: BLE001 - the test wants the reason, whatever it is
        print(f"{path}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    json.dump({"reader": reader, "metadata": metadata, "tensors": tensors}, sys.stdout)


if __name__ == "__main__":
    main()
