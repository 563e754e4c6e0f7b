#!/usr/bin/env bash
# The gradient-communication study of docs/distributed.md: the LLM example's cpu preset
# trained by 2 ranks (mpirun, 1 thread each, batch 6 per rank = the preset's 12 per step) with
# gradients averaged in each format, one run after another so the timings compare, plus the
# one-process run (2 threads) as the anchor. Prints a markdown table (final validation loss,
# ms/step, bytes each rank sends per step) and writes an HTML report of the runs' curves.
# About 25 minutes on a 2-core machine. Usage: bash scripts/grad_comm_table.sh [OUT]
# (BUILD=folder uses another build folder than build/.)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out-grad-comm}"
bash scripts/setup.sh >/dev/null
build="${BUILD:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target llm precision_report >/dev/null
llm=$build/examples/llm/llm
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"
formats=(f32 bf16 f16 fp8-e4m3 fp8-e4m3+ef fp8-e5m2 fp8-e5m2+ef bf16-sum f16-sum fp8-e4m3-sum fp8-e4m3-sum+ef)
rows=()
row() {  # name, log: | name | val loss | ms/step | bytes |
  local done bytes
  done=$(grep "^done:" "$2")
  bytes=$(grep -o "[0-9]* bytes sent per rank and step" "$2" | cut -d' ' -f1 || true)
  rows+=("| $1 | $(sed -E 's/.*val loss ([0-9.]+).*/\1/' <<<"$done") | $(sed -E 's/.*\(([0-9]+) ms\/step\).*/\1/' <<<"$done") | ${bytes:-0} |")
}
echo "== one process, 2 threads"
rm -rf "${out:?}/one-process"
"$llm" train --preset cpu --threads 2 --out-dir "$out/one-process" > "$out/one-process.log"
grep "^done:" "$out/one-process.log"
row "one process (2 threads)" "$out/one-process.log"
dirs=("$out/one-process")
for f in "${formats[@]}"; do
  rm -rf "${out:?}/$f"
  echo "== 2 ranks, --grad-comm $f"
  mpirun -np 2 --oversubscribe "$llm" train --preset cpu --batch-size 6 --threads 1 --grad-comm "$f" \
    --out-dir "$out/$f" > "$out/$f.log"
  grep "^done:" "$out/$f.log"
  row "2 ranks, $f" "$out/$f.log"
  dirs+=("$out/$f")
done
echo
echo "| run | final val loss | ms/step | bytes sent per rank and step |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
"$build"/examples/precision_report/precision_report --out "$out/report.html" "${dirs[@]}" >/dev/null &&
  echo "report: $out/report.html"
