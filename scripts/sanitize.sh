#!/usr/bin/env bash
# The library and its CPU tests built with AddressSanitizer and UndefinedBehaviorSanitizer,
# then run: a read past a buffer, a use after free, a leak, a signed overflow or a misaligned
# load fails the test that caused it. CPU only, without the examples and benchmarks (what it
# trims is what it builds, not what the library's tests check); the multi-process, GPU and
# install tests are left to the Release build (scripts/test.sh).
#   bash scripts/sanitize.sh [build folder]        (default build-sanitize)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-sanitize}
bash scripts/setup.sh
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" -DMANTISSA_CUDA=OFF -DMANTISSA_BUILD_EXAMPLES=OFF \
  -DMANTISSA_BUILD_BENCH=OFF -DMANTISSA_UNITY_BUILD=ON
cmake --build "$build" -j"$(nproc)" --target mantissa_tests
# Leaks are reported at exit; the suppressions name the libraries whose process-lifetime
# caches are not freed (the OpenMP runtime, oneDNN's primitive cache), never mantissa's own.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/support/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -L cpu -E '^(Install|Docs|Layering|Examples)\.'
