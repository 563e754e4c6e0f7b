#!/usr/bin/env bash
# README command 1: installs what is missing, builds mantissa (Release) and runs the main
# example on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMANTISSA_BUILD_TESTS=OFF -DMANTISSA_BUILD_BENCH=OFF
cmake --build build -j"$(nproc)" --target mlp_demo
build/examples/mlp/mlp_demo "$@"
