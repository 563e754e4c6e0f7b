#!/usr/bin/env bash
# Builds mantissa as a shared library (BUILD_SHARED_LIBS=ON, the library alone, CPU backend)
# from SOURCE_DIR and serves the downstream project from its install, as run.sh does for the
# static build (the test Install.SharedLibrary...).
# Usage: run_shared.sh SOURCE_DIR
set -euo pipefail
source_dir=$1
here=$(cd "$(dirname "$0")" && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cmake -S "$source_dir" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DMANTISSA_CUDA=OFF \
      -DMANTISSA_BUILD_TESTS=OFF -DMANTISSA_BUILD_EXAMPLES=OFF -DMANTISSA_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
test -n "$(find "$build" -maxdepth 1 -name 'libmantissa.so.*')"
bash "$here/run.sh" "$build"
