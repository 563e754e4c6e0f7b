"""Writes the hand-made seeds of the safetensors_header fuzz target (from_python.safetensors
beside them is tests/core/safetensors/from_python.safetensors, written by Python's
`safetensors`). Run from the repository root: python3 tests/fuzz/corpus/make_safetensors_seeds.py"""
import json
import struct

SEEDS = 'tests/fuzz/corpus/safetensors_header/'


def write(path, header, data):
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)  # the reference pads the header to 8 bytes
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + data)


def every_dtype():
    """One tensor of each dtype mantissa reads, an empty one last, and metadata."""
    header, data = {'__metadata__': {'format': 'pt', 'step': '3'}}, b''
    for dtype, size, shape in [('F64', 8, [2]), ('F32', 4, [2, 3]), ('F16', 2, [3]), ('BF16', 2, [1, 2]),
                               ('F8_E4M3', 1, [4]), ('F8_E5M2', 1, [2, 2]), ('I64', 8, [1]), ('I32', 4, [2]),
                               ('U8', 1, [3]), ('BOOL', 1, [2]), ('F32', 4, [0, 5])]:
        nbytes = size
        for s in shape:
            nbytes *= s
        header[f'{dtype.lower()}_{len(header)}'] = {'dtype': dtype, 'shape': shape,
                                                   'data_offsets': [len(data), len(data) + nbytes]}
        modulus = 2 if dtype == 'BOOL' else 256
        data += bytes((i * 37) % modulus for i in range(nbytes))
    return header, data


write(SEEDS + 'empty.safetensors', {}, b'')
write(SEEDS + 'every_dtype.safetensors', *every_dtype())
