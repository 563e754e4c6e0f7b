#!/usr/bin/env python3
"""Loads a safetensors file written by mantissa with Python's `safetensors.numpy.load_file`
and checks it holds exactly TENSORS and METADATA of make_python_file.py, in that order:
names, dtypes, shapes, every value bit for bit, and the metadata. Exits 1 on any mismatch.

test_safetensors.cpp writes the file (the same values it expects in from_python.safetensors)
and runs this script, so the pair proves the mantissa -> Python direction.

    python3 tests/core/safetensors/check_mantissa_file.py FILE
"""
import pathlib
import sys

import ml_dtypes
import numpy as np

# safetensors' numpy loader looks the fp8 types up as attributes of numpy itself, where only
# ml_dtypes defines them; give numpy the names it asks for.
for name in ("float8_e4m3fn", "float8_e5m2"):
    if not hasattr(np, name):
        setattr(np, name, getattr(ml_dtypes, name))

from safetensors import safe_open  # noqa: E402  (after the fp8 names exist)
from safetensors.numpy import load_file  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(pathlib.Path(__file__).parent))
from make_python_file import METADATA, TENSORS  # noqa: E402


def mismatches(path: str) -> list:
    problems = []
    loaded = load_file(path)
    if list(loaded) != list(TENSORS):
        problems.append(f"tensor names/order: got {list(loaded)}, expected {list(TENSORS)}")
    for name, expected in TENSORS.items():
        if name not in loaded:
            continue
        got = loaded[name]
        if got.dtype != expected.dtype:
            problems.append(f"{name}: dtype {got.dtype}, expected {expected.dtype}")
        elif got.shape != expected.shape:
            problems.append(f"{name}: shape {got.shape}, expected {expected.shape}")
        elif got.tobytes() != expected.tobytes():
            problems.append(f"{name}: bytes {got.tobytes().hex()}, expected {expected.tobytes().hex()}")
    with safe_open(path, framework="np") as f:
        metadata = f.metadata()
    if metadata != METADATA:
        problems.append(f"metadata {metadata}, expected {METADATA}")
    return problems


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = mismatches(sys.argv[1])
    for problem in problems:
        print(f"check_mantissa_file: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_mantissa_file: {sys.argv[1]} matches ({len(TENSORS)} tensors)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
