#!/usr/bin/env bash
# Trains the LLM example's cpu preset in every precision mode and prints the table that
# docs/precision.md carries (final validation loss, ms/step against 32-true, bytes per
# parameter), plus an HTML report of all runs. Runs one after another, so the timings are
# comparable; about 45 minutes on a 2-core machine. Usage: bash scripts/precision_table.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out-precision}"
bash scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMANTISSA_CUDA=OFF -DMANTISSA_UNITY_BUILD=ON >/dev/null  # the CPU build dir, as scripts/example.sh makes it
cmake --build build -j"$(nproc)" --target llm precision_report >/dev/null
llm=build/examples/llm/llm
mkdir -p "$out"
mapfile -t runs < <(grep -v "^#" scripts/precision_runs.txt)  # name|flags
dirs=()
for run in "${runs[@]}"; do
  name="${run%%|*}"
  flags="${run#*|}"
  rm -rf "${out:?}/$name"
  echo "== $name ($flags)"
  # shellcheck disable=SC2086  # flags are words
  "$llm" train --preset cpu $flags --out-dir "$out/$name" | grep -E "^(done|step [0-9]+:)|skipped|warning" || true
  dirs+=("$out/$name")
done
build/examples/precision_report/precision_report --table --out "$out/report.html" "${dirs[@]}"
