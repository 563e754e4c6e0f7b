#!/usr/bin/env python3
"""Fails when a layer of the library includes a layer above it (docs/architecture.md, Layers).

Every library header and source is read; each `#include <mantissa/LAYER/...>` must name a
layer that the including file's layer may use. Prints every violation with file and line.
Usage: check_layering.py [REPOSITORY_ROOT]
"""
import pathlib
import re
import sys

# Which layers each layer may include (itself included).
ALLOWED = {
    "core": {"core"},
    "autograd": {"core", "autograd"},
    "nn": {"core", "autograd", "nn"},
    "optim": {"core", "autograd", "optim"},
    "distributed": {"core", "autograd", "nn", "optim", "distributed"},
    "precision": {"core", "autograd", "nn", "optim", "distributed", "precision"},
    "train": {"core", "autograd", "nn", "optim", "distributed", "precision", "train"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
SUFFIXES = {".h", ".cpp", ".cu", ".cuh"}


def layer_of_include(target):
    parts = target.split("/")
    if parts[0] == "mantissa" and len(parts) > 2:
        return parts[1]
    if parts[0] in ALLOWED:  # an old-style "core/x.h" include is checked as well
        return parts[0]
    return None


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    violations, files = [], 0
    for layer, allowed in ALLOWED.items():
        for path in sorted((root / layer).rglob("*")):
            if path.suffix not in SUFFIXES:
                continue
            files += 1
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                match = INCLUDE.match(line)
                target = match and layer_of_include(match.group(1))
                if target and target not in allowed:
                    violations.append(f"{path.relative_to(root)}:{number}: {layer} includes {target} "
                                      f"({match.group(1)}); {layer} may use {', '.join(sorted(allowed))}")
    for v in violations:
        print(v)
    print(f"layering: {files} files, {len(violations)} upward include(s)")
    return 1 if violations or files == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
