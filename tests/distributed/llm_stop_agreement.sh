#!/usr/bin/env bash
# A stop signal to one rank of an `llm train` job under mpirun stops every rank after the same
# step (the flag is all-reduced with the step's loss), so no collective is left waiting: the
# job ends within a bounded time, rank 0 saves last.safetensors at that step, and the run
# resumes from it. The signal goes to rank 1 alone (not to mpirun, which would forward it to
# all ranks).
# Usage: llm_stop_agreement.sh MPIEXEC LLM WORKDIR
set -euo pipefail
mpiexec=$1 llm=$2 work=$3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MANTISSA_DISTRIBUTED_TIMEOUT=60
rm -rf "$work" && mkdir -p "$work"
args=(--n-layer 1 --n-embd 32 --n-head 2 --block-size 16 --batch-size 4 --eval-interval 100000 --eval-iters 1
      --log-interval 1 --threads 1 --out-dir "$work/run")
fail() { cat "$work/out" 2> /dev/null; echo "llm_stop_agreement: FAILED: $*"; exit 1; }

"$mpiexec" -np 2 --oversubscribe "$llm" train "${args[@]}" --steps 100000 > "$work/out" 2>&1 &
job=$!
# Rank 1's process: the llm child whose environment says so.
rank1=""
for _ in $(seq 600); do  # up to 60 s for rank 1 to start and both ranks to log step 3
  for pid in $(pgrep -x llm || true); do
    if tr '\0' '\n' < "/proc/$pid/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then rank1=$pid; fi
  done
  [[ -n $rank1 ]] && grep -qE "step +3/" "$work/out" && break
  sleep 0.1
done
[[ -n $rank1 ]] || { kill -9 $job; fail "rank 1 never started"; }
kill -TERM "$rank1"
for _ in $(seq 600); do kill -0 $job 2> /dev/null || break; sleep 0.1; done  # up to 60 s to end
if kill -0 $job 2> /dev/null; then pkill -9 -x llm; kill -9 $job; fail "the job did not end within 60 s of the signal"; fi
status=0
wait $job || status=$?
[[ $status -ne 0 ]] || fail "the job exited 0 after a stop signal"

# Every rank that says where it stopped names the same step, and rank 0's checkpoint holds it.
cp "$work/out" "$work/stopped.out"
mapfile -t stops < <(grep -o "stopped by SIGTERM after step [0-9]*" "$work/out" | sort -u)
[[ ${#stops[@]} -eq 1 ]] || fail "the ranks stopped after different steps or not at all: ${stops[*]:-none}"
step=${stops[0]##* }
saved=$(python3 - "$work/run/last.safetensors" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    print(json.loads(json.loads(f.read(n))["__metadata__"]["user.state"])["step"])
PY
)
[[ $saved -eq $step ]] || fail "last.safetensors holds step $saved, the ranks stopped after $step"
timeout 300 "$mpiexec" -np 2 --oversubscribe "$llm" train "${args[@]}" --steps $((step + 2)) --resume \
  > "$work/out" 2>&1 || fail "the resumed job failed"
grep -q "resumed from .* at step $step" "$work/out" || fail "the job did not resume at step $step"
grep -q "done: 2 steps" "$work/out" || fail "the resumed job did not finish its 2 steps"
echo "llm_stop_agreement: rank 1 alone got SIGTERM; both ranks stopped after step $step (job status $status), saved, resumed"
