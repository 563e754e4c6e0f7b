"""Writes a safetensors file by hand (the golden scripts run where the safetensors package may
be missing): u64 header size, JSON header (names, dtypes, shapes, byte ranges), data.

  sys.path.insert(0, <tests/support>); from safetensors_writer import write
  write(path, {"x": numpy_or_torch_array, ...}, made_by="tests/.../make_x.py", torch="1.13")
"""

import json
import struct

KINDS = {"float64": "F64", "float32": "F32", "int64": "I64", "int32": "I32", "uint8": "U8", "bool": "BOOL"}


def write(path, tensors, **metadata):
    header, data = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, b""
    for name, t in tensors.items():
        array = t.detach().contiguous().numpy() if hasattr(t, "detach") else t
        raw = array.tobytes(order="C")
        kind = KINDS[str(array.dtype)]
        header[name] = {"dtype": kind, "shape": list(array.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
