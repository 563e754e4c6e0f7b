#!/usr/bin/env bash
# Installs the mantissa built in BUILD_DIR into a temporary prefix and builds and runs the
# downstream project against it, as a user's project would (the test Install.*).
# Usage: run.sh BUILD_DIR
set -euo pipefail
build_dir=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/mantissa/mantissa.h"
test -f "$work/prefix/lib/cmake/mantissa/mantissaConfigVersion.cmake"
cmake -S "$here" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/downstream"
"$work/build/tutorial"
