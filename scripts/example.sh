#!/usr/bin/env bash
# README command 1: installs what is missing, builds mantissa (Release) and runs the main
# example on the CPU: the LLM example's `cpu` preset (nanoGPT's character-level Tiny
# Shakespeare run), then a sample from the best checkpoint. Extra arguments go to `train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The CPU example needs no CUDA kernels: building them for three GPU architectures would
# take longer than the training. Command 2 (scripts/test.sh) builds and tests the CUDA backend.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMANTISSA_BUILD_TESTS=OFF -DMANTISSA_BUILD_BENCH=OFF \
  -DMANTISSA_CUDA=OFF -DMANTISSA_UNITY_BUILD=ON
cmake --build build -j"$(nproc)" --target llm
rm -rf out-llm
build/examples/llm/llm train --preset cpu --out-dir out-llm "$@"
echo "--- a sample from out-llm/best.safetensors:"
build/examples/llm/llm sample --checkpoint out-llm/best.safetensors --tokens 500
