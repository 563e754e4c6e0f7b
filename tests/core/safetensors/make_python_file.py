#!/usr/bin/env python3
"""Writes from_python.safetensors, the file test_safetensors.cpp reads to prove that a file
written by Python's `safetensors` loads in mantissa with every value intact.

The values sit at the edges of each format (largest finite, smallest subnormal, signed zero,
infinities, NaN, integer extremes) and are all exactly representable, so the C++ test can
state them as plain numbers. Keep the two lists in step.

The output is deterministic: the reference writer orders tensors by dtype and then by name,
and a single metadata key leaves no hash-map ordering to chance.

    pip install safetensors numpy ml_dtypes
    python3 tests/core/safetensors/make_python_file.py [OUTPUT]
"""
import pathlib
import sys

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

INF = float("inf")
NAN = float("nan")

TENSORS = {
    "f64": np.array([[0.1, -0.0], [5e-324, -INF]], dtype=np.float64),
    "f32": np.array([1.0, -3.5, 2.0**-149, NAN], dtype=np.float32),
    "f16": np.array([[65504.0, -(2.0**-24), 0.5], [INF, 0.333251953125, -0.0]], dtype=np.float16),
    "bf16": np.array([1.0, -2.5, 2.0**-133, (2 - 2.0**-7) * 2.0**127], dtype=ml_dtypes.bfloat16),
    "f8_e4m3": np.array([448.0, -(2.0**-9), 1.75, NAN], dtype=ml_dtypes.float8_e4m3fn),
    "f8_e5m2": np.array([[57344.0, -(2.0**-16)], [INF, 0.75]], dtype=ml_dtypes.float8_e5m2),
    "i64": np.array([2**63 - 1, -(2**63), -1], dtype=np.int64),
    "i32_scalar": np.array(-123456789, dtype=np.int32),
    "u8": np.array([0, 255, 7], dtype=np.uint8),
    "bool": np.array([True, False, True]),
    "empty": np.zeros((2, 0), dtype=np.float32),
}
METADATA = {"note": "π ≈ 3.14159"}


def main() -> None:
    default = pathlib.Path(__file__).with_name("from_python.safetensors")
    output = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else default
    save_file(TENSORS, str(output), metadata=METADATA)
    print(f"wrote {output} ({output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
