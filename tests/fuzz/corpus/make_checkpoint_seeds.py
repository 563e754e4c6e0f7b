"""Writes the seeds of the checkpoint_metadata fuzz target: the metadata of LLM checkpoints
as key NUL value NUL pairs, the target's input format. Made from a tiny run's checkpoint:

  llm train --steps 2 --batch-size 2 --block-size 8 --n-layer 1 --n-head 2 --n-embd 8 \\
    --eval-interval 1 --eval-iters 1 --precision bf16-mixed --out-dir /tmp/seedrun
  python3 tests/fuzz/corpus/make_checkpoint_seeds.py /tmp/seedrun/last.safetensors

ubsan_float_as_integer.bin beside them is not made here: it is the input libFuzzer found (a
float where the configuration holds an integer), kept so every run tries it again."""
import json
import os
import struct
import sys

SEEDS = 'tests/fuzz/corpus/checkpoint_metadata/'


def metadata_of(path):
    with open(path, 'rb') as f:
        (length,) = struct.unpack('<Q', f.read(8))
        return json.loads(f.read(length))['__metadata__']


def write(name, metadata):
    with open(SEEDS + name, 'wb') as f:
        for key, value in sorted(metadata.items()):
            f.write(key.encode() + b'\0' + value.encode() + b'\0')


metadata = metadata_of(sys.argv[1])
os.makedirs(SEEDS, exist_ok=True)
write('llm_checkpoint.bin', metadata)
# As written before digests existed, and before any evaluation (best loss null).
write('llm_checkpoint_without_digests.bin', {k: v for k, v in metadata.items() if k != 'digests'})
state = json.loads(metadata['user.state'])
state['best_val_loss'] = None
write('llm_checkpoint_not_evaluated.bin', dict(metadata, **{'user.state': json.dumps(state)}))
