#!/usr/bin/env bash
# The example programs meet bad input with one line on stderr ("error: ..." naming the cause)
# and exit status 1: never an abort, a signal or a silent success; a trainer stopped by SIGINT
# saves and says how to resume. Each case is a probe that
# once crashed (issue 20: uncaught file-system and JSON errors, division by zero in the
# trainer, an overflowing shape).
#   cli_errors.sh <llm binary> [<asr binary>]
set -u
llm=$1
asr=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq 1 200); do echo "the quick brown fox $i jumps over the lazy dog."; done > "$work/text.txt"
touch "$work/a_file"
# A safetensors file whose header holds a number beyond a double's range.
python3 - "$work/huge_number.safetensors" <<'EOF'
import struct, sys
header = b'{"x":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}}'
open(sys.argv[1], "wb").write(struct.pack("<Q", len(header)) + header + b"\0" * 4)
EOF

failures=0
# expect <fragment of the error line> <command...>
expect() {
  local fragment=$1
  shift
  local status
  timeout 120 "$@" > "$work/out" 2> "$work/err"
  status=$?
  local lines
  lines=$(grep -c . "$work/err")
  if [[ $status -ne 1 ]] || [[ $lines -ne 1 ]] || ! grep -q "^error: .*$fragment" "$work/err"; then
    echo "FAIL (status $status, $lines stderr lines, wanted one 'error: ...$fragment'): $*"
    sed 's/^/    /' "$work/err" | head -5
    failures=$((failures + 1))
  else
    echo "ok: $(cut -c1-200 "$work/err")"
  fi
}

train=("$llm" train --data "$work/text.txt" --steps 2)
expect "not a folder\|Not a directory\|File exists" "${train[@]}" --out-dir "$work/a_file"
expect "Not a directory\|not a folder" "${train[@]}" --out-dir "$work/a_file/run"
expect "--out-dir" "${train[@]}" --out-dir ""
expect "too long" "${train[@]}" --out-dir "$work/$(printf 'a%.0s' $(seq 1 300))"
expect "--eval-interval must be at least 1" "${train[@]}" --out-dir "$work/run" --eval-interval 0
expect "--log-interval must be at least 1" "${train[@]}" --out-dir "$work/run" --log-interval 0
expect "--eval-iters must be at least 1" "${train[@]}" --out-dir "$work/run" --eval-iters -1
expect "--lr must be a finite positive number" "${train[@]}" --out-dir "$work/run" --lr inf
expect "overflow" "${train[@]}" --out-dir "$work/run" --block-size 4611686018427387904
expect "overflow" "${train[@]}" --out-dir "$work/run" --batch-size 9223372036854775807
expect "not valid JSON" "$llm" eval --checkpoint "$work/huge_number.safetensors"
expect "not valid JSON" "$llm" sample --checkpoint "$work/huge_number.safetensors"
if [[ -n $asr ]]; then
  expect "not a folder\|Not a directory\|File exists" "$asr" train --out-dir "$work/a_file" --steps 1
  expect "not valid JSON" "$asr" eval --checkpoint "$work/huge_number.safetensors"
fi
# SIGINT to a running trainer: it finishes the step, saves last.safetensors and exits with
# status 130 (128 + SIGINT), saying how to resume.
# expect_clean_stop <run folder> <trainer command...>
expect_clean_stop() {
  local run=$1
  shift
  "$@" --steps 1000000 --eval-interval 1000000 --log-interval 1 --out-dir "$run" > "$work/out" 2> "$work/err" &
  local trainer=$!
  for _ in $(seq 1 1200); do
    [[ $(stat -c %s "$run/metrics.jsonl" 2> /dev/null || echo 0) -gt 200 ]] && break
    sleep 0.1
  done
  kill -INT $trainer
  timeout 60 tail --pid=$trainer -f /dev/null
  kill -9 $trainer 2> /dev/null && echo "the trainer ignored SIGINT for 60 s"
  wait $trainer
  local status=$?
  if [[ $status -eq 130 ]] && grep -q "stopped by SIGINT after step .*--resume" "$work/out" && [[ -f $run/last.safetensors ]]; then
    echo "ok: $(grep "stopped by" "$work/out")"
  else
    echo "FAIL: SIGINT to $1 gave status $status:"
    tail -3 "$work/out" "$work/err" | sed 's/^/    /'
    failures=$((failures + 1))
  fi
}
expect_clean_stop "$work/llm-stopped" "$llm" train --data "$work/text.txt" --n-layer 1 --n-head 2 --n-embd 16 \
  --block-size 16 --batch-size 2
# The ASR trainer reads the spoken digits (../shared/data) first, where they are.
if [[ -n $asr ]] && "$asr" train --help > /dev/null && [[ -d ${MANTISSA_DATA_DIR:-$(dirname "$0")/../../../shared/data}/fsdd ]]; then
  expect_clean_stop "$work/asr-stopped" "$asr" train --batch-size 4 --d-model 32 --n-layer 1 --d-ff 64
fi
[[ $failures -eq 0 ]] || { echo "$failures case(s) failed"; exit 1; }
