#!/usr/bin/python3
"""Probes PyTorch's CPU autocast (bf16) for each op mantissa's autocast table can name, and
writes what it does as JSON: lower_precision (f32 inputs run in bf16), fp32 (bf16 inputs run
in f32) or none (the op runs in its inputs' dtype; mixed inputs promote natively).

Run by hand with Debian's python3-torch:  /usr/bin/python3 precision/policy_tables/probe_torch_cpu_autocast.py
It rewrites torch_cpu_autocast.json beside it; the tests read that file and never need torch."""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)


def inputs(dtype):
    x = torch.randn(4, 8, dtype=dtype)
    return {
        "x": x,
        "w": torch.randn(8, 8, dtype=dtype),
        "v": torch.randn(8, dtype=dtype),
        "seq": torch.randn(2, 8, 5, dtype=dtype),
        "kernel": torch.randn(3, 8, 3, dtype=dtype),
        "pos": torch.rand(4, 8, dtype=dtype) + 0.5,
    }


TARGET = torch.tensor([1, 0, 3, 2])
IDS = torch.tensor([0, 3, 1])
OPS = {
    "matmul": lambda t: torch.matmul(t["x"], t["w"]),
    "linear": lambda t: F.linear(t["x"], t["w"], t["v"]),
    "conv1d": lambda t: F.conv1d(t["seq"], t["kernel"]),
    "softmax": lambda t: torch.softmax(t["x"], -1),
    "log_softmax": lambda t: torch.log_softmax(t["x"], -1),
    "layer_norm": lambda t: F.layer_norm(t["x"], (8,), t["v"], t["v"]),
    "cross_entropy": lambda t: F.cross_entropy(t["x"], TARGET),
    "mse_loss": lambda t: F.mse_loss(t["x"], t["w"][:4]),
    # seq as (T=2, B=8, C=5); every utterance one label of class 1 in 2 frames
    "ctc_loss": lambda t: F.ctc_loss(t["seq"], torch.ones(8, 1, dtype=torch.long), torch.full((8,), 2),
                                     torch.ones(8, dtype=torch.long)),
    "exp": lambda t: torch.exp(t["x"]),
    "log": lambda t: torch.log(t["pos"]),
    "pow": lambda t: torch.pow(t["x"], 2.0),
    "rsqrt": lambda t: torch.rsqrt(t["pos"]),
    "sqrt": lambda t: torch.sqrt(t["pos"]),
    "sum": lambda t: torch.sum(t["x"]),
    "mean": lambda t: torch.mean(t["x"]),
    "var": lambda t: torch.var(t["x"], 0),
    "amax": lambda t: torch.amax(t["x"], 0),
    "tanh": lambda t: torch.tanh(t["x"]),
    "sigmoid": lambda t: torch.sigmoid(t["x"]),
    "relu": lambda t: torch.relu(t["x"]),
    "gelu": lambda t: F.gelu(t["x"]),
    "silu": lambda t: F.silu(t["x"]),
    "embedding": lambda t: F.embedding(IDS, t["w"]),
    "index_select": lambda t: torch.index_select(t["x"], 0, IDS),
    "cat": lambda t: torch.cat([t["x"], t["x"]]),
    "stack": lambda t: torch.stack([t["x"], t["x"]]),
    "where": lambda t: torch.where(t["x"] > 0, t["x"], t["pos"]),
    "add": lambda t: t["x"] + t["pos"],
    "mul": lambda t: t["x"] * t["pos"],
}


def policy(op):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        from_f32 = op(inputs(torch.float32)).dtype
        from_bf16 = op(inputs(torch.bfloat16)).dtype
    if from_f32 == torch.bfloat16:
        return "lower_precision"
    if from_bf16 == torch.float32:
        return "fp32"
    return "none"


table = {name: policy(op) for name, op in OPS.items()}
out = {
    "provenance": f"probed with torch {torch.__version__} (Debian python3-torch), torch.autocast('cpu', bfloat16), "
    "by precision/policy_tables/probe_torch_cpu_autocast.py",
    "ops": table,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_cpu_autocast.json")
with open(path, "w") as f:
    json.dump(out, f, indent=2, sort_keys=False)
    f.write("\n")
print(json.dumps(table, indent=1))
