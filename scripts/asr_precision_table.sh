#!/usr/bin/env bash
# Trains the ASR example's cpu preset in every precision mode, evaluates each best checkpoint
# on every test set (beam search alone, and with the digit lexicon for FSDD), and prints the
# table docs/asr.md carries (WER per test set, ms/step, bytes per parameter). Each mode's result, with the CPU it ran on and the commit, is kept in
# docs/asr-precision/<mode>.json, which is committed: all modes take about three hours on
# 2 cores, more than one session, so the table is filled over several. Resumable: a mode
# whose result exists is skipped, and one whose training was interrupted continues from
# its last.safetensors under OUT.
# Usage: bash scripts/asr_precision_table.sh [OUT] (default out-asr-precision)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out-asr-precision}"
results=docs/asr-precision
bash scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMANTISSA_CUDA=OFF -DMANTISSA_UNITY_BUILD=ON >/dev/null  # the CPU build dir, as scripts/example.sh makes it
cmake --build build -j"$(nproc)" --target asr >/dev/null
asr=build/examples/asr/asr
mkdir -p "$out" "$results"
mapfile -t runs < <(grep -Ev "^(#|$)" scripts/precision_runs.txt)  # name|flags
for run in "${runs[@]}"; do
  name="${run%%|*}"
  flags="${run#*|}"
  dir="$out/$name"
  if [ -f "$results/$name.json" ]; then
    echo "== $name: done earlier ($results/$name.json)"
    continue
  fi
  resume=""
  [ -f "$dir/last.safetensors" ] && resume="--resume"
  echo "== $name ($flags) $resume"
  # The code that trained it: noted when its training starts, kept across resumes.
  [ -f "$dir/commit" ] || { mkdir -p "$dir" && git describe --always --dirty > "$dir/commit"; }
  # shellcheck disable=SC2086  # flags are words
  "$asr" train --preset cpu $flags --instrument-interval 1000 --out-dir "$dir" $resume 2>&1 |
    { grep -E "^(done|step [0-9]+:)|skipped|warning|error" || true; }
  status=${PIPESTATUS[0]}
  if [ "$status" -ne 0 ]; then
    echo "asr_precision_table: training $name failed (exit $status); rerun to resume it" >&2
    exit "$status"
  fi
  "$asr" eval --checkpoint "$dir/best.safetensors" --errors 0 > "$dir/eval.txt"
  "$asr" eval --checkpoint "$dir/best.safetensors" --errors 0 --lexicon digits > "$dir/eval-lexicon.txt"
  python3 scripts/asr_precision_result.py "$dir" > "$results/$name.json.tmp"
  mv "$results/$name.json.tmp" "$results/$name.json"
done
table=()
for run in "${runs[@]}"; do table+=("$results/${run%%|*}.json"); done  # the runs' order; missing ones are left out
python3 scripts/asr_precision_result.py --table "${table[@]}"
