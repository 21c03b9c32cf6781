#!/usr/bin/env python3
"""Loads a probe direction and a layer file with torch.load(weights_only=True) and prints each row's projection.

Usage: project_rows.py PROBE_PT LAYER_PT. Prints JSON: {"direction_shape", "direction_dtype", "bias_shape",
"bias_dtype", "scores": [faithful rows..., unfaithful rows...]} with scores = acts @ direction + bias.
"""
import json
import sys

import torch

probe = torch.load(sys.argv[1], weights_only=True)
acts = torch.load(sys.argv[2], weights_only=True)
direction, bias = probe["direction"], probe["bias"]
rows = torch.cat([acts["faithful"], acts["unfaithful"]]).to(torch.float64)
scores = rows @ direction.to(torch.float64) + bias.to(torch.float64)
json.dump({
    "keys": sorted(probe.keys()),
    "direction_shape": list(direction.shape),
    "direction_dtype": str(direction.dtype),
    "bias_shape": list(bias.shape),
    "bias_dtype": str(bias.dtype),
    "scores": scores.tolist(),
}, sys.stdout)
