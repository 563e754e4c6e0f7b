#!/usr/bin/env bash
# README command 2: installs what is missing, builds everything (the CUDA backend too when
# nvcc is present) and runs the whole test suite. Exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release -DMANTISSA_CUDA=AUTO -DMANTISSA_UNITY_BUILD=ON
cmake --build build-test -j"$(nproc)"
ctest --test-dir build-test --output-on-failure -j"$(nproc)"
