#!/usr/bin/env bash
# Trains the ASR example's cpu preset in every precision mode, evaluates each best checkpoint
# on every test set, and prints the table docs/asr.md carries (WER per test set, ms/step,
# bytes per parameter). Resumable: a mode whose result.json exists is skipped, and one whose
# training was interrupted continues from its last.safetensors. All modes take about two
# hours on 2 cores. Usage: bash scripts/asr_precision_table.sh [OUT] (default out-asr-precision)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out-asr-precision}"
bash scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target asr >/dev/null
asr=build/examples/asr/asr
mkdir -p "$out"
mapfile -t runs < <(grep -v "^#" scripts/precision_runs.txt)  # name|flags
for run in "${runs[@]}"; do
  name="${run%%|*}"
  flags="${run#*|}"
  dir="$out/$name"
  if [ -f "$dir/result.json" ]; then
    echo "== $name: done earlier ($dir/result.json)"
    continue
  fi
  resume=""
  [ -f "$dir/last.safetensors" ] && resume="--resume"
  echo "== $name ($flags) $resume"
  # shellcheck disable=SC2086  # flags are words
  "$asr" train --preset cpu $flags --instrument-interval 1000 --out-dir "$dir" $resume 2>&1 |
    { grep -E "^(done|step [0-9]+:)|skipped|warning|error" || true; }
  status=${PIPESTATUS[0]}
  if [ "$status" -ne 0 ]; then
    echo "asr_precision_table: training $name failed (exit $status); rerun to resume it" >&2
    exit "$status"
  fi
  "$asr" eval --checkpoint "$dir/best.safetensors" --errors 0 > "$dir/eval.txt"
  python3 scripts/asr_precision_result.py "$dir" > "$dir/result.json.tmp"
  mv "$dir/result.json.tmp" "$dir/result.json"
done
python3 scripts/asr_precision_result.py --table "$out"/*/
