#!/usr/bin/env bash
# A failing rank must end the whole job with a non-zero status within a bounded time, never
# leave the others waiting. Usage: fail_fast.sh MPIEXEC PROBE MODE (fault_probe.cpp's modes).
# The collective timeout is 5 s; the job must be gone within 60 s (mpirun's own teardown
# included) and `timeout` stops the check itself at 120 s.
set -uo pipefail
mpiexec=$1 probe=$2 mode=$3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MANTISSA_DISTRIBUTED_TIMEOUT=5 OMP_NUM_THREADS=1
start=$(date +%s)
output=$(timeout 120 "$mpiexec" -np 2 --oversubscribe "$probe" "$mode" 2>&1)
status=$?
elapsed=$(($(date +%s) - start))
echo "$output"
echo "fail_fast: mode $mode: exit status $status after ${elapsed} s"
fail() { echo "fail_fast: FAILED: $*"; exit 1; }
[ "$status" -ne 0 ] || fail "the job exited 0"
[ "$status" -ne 124 ] || fail "the job still ran after 120 s"
[ "$elapsed" -le 60 ] || fail "the job took ${elapsed} s to end"
grep -q "first all_reduce done" <<<"$output" || fail "the job did not get as far as its first collective"
grep -q "the second all_reduce completed" <<<"$output" && fail "a collective completed without a peer"
case $mode in
  hang) grep -q "did not complete within 5 s" <<<"$output" || fail "no timeout message" ;;
  throw) grep -q "rank 1 failed on purpose" <<<"$output" || fail "the error was not printed" ;;
esac
echo "fail_fast: mode $mode: passed"
