#!/usr/bin/env bash
# The one-shot GPU check (docs/cuda.md, "The first GPU run"): on a machine with an NVIDIA GPU
# and none of our Debian packages, builds mantissa for that GPU alone and runs, in about five
# minutes, every test labelled gpu with MANTISSA_REQUIRE_GPU=1, PyTorch's GPT step against
# ours, short LLM trainings in bf16-mixed and bf16-mixed+fp8, and the GPU benchmark.
#
#   bash scripts/gpu_prepare.sh            # first, on a CPU machine with apt: fills .gpu-deps/
#   bash scripts/gpu_check.sh RESULTS_DIR  # then on the GPU machine (or MANTISSA_GPU_RESULTS)
#
# Every stage runs under its own timeout and within one overall deadline
# (MANTISSA_GPU_CHECK_SECONDS, default 300), and the results are written as it goes, so a
# cut-off run still leaves what it did:
#   summary.txt      one line per stage (exit status, seconds) and the figures that matter
#   logs.tar.gz      every stage's log, the tests' JUnit XML, the trainings' metrics.jsonl
# The build targets the GPU it finds (MANTISSA_GPU_ARCH overrides, e.g. 90), with every core.
# MANTISSA_GPU_CHECK_STAGE_FACTOR multiplies every stage's timeout (a rehearsal on a 2-core
# CPU machine needs about 10).
# Exits 1 when a stage failed, 2 when the deadline left stages unrun, 0 otherwise. The stages
# run in order of what matters most: tests, the PyTorch ratio, the trainings, the benchmark.
set -uo pipefail
self=$(realpath "$0")
if [ "${1:-}" != "--stage" ]; then
  MANTISSA_GPU_RESULTS=$(realpath -m "${1:-${MANTISSA_GPU_RESULTS:-gpu-results}}")
  export MANTISSA_GPU_RESULTS
fi
cd "$(dirname "$self")/.."
root=$PWD
results=$MANTISSA_GPU_RESULTS
deps=$root/.gpu-deps
prefix=/tmp/mantissa-gpu-prefix
build=$root/build-gpu
jobs=$(nproc)
llm_runs=/tmp/mantissa-gpu-llm  # checkpoints stay out of the results
deadline=$(($(date +%s) + ${MANTISSA_GPU_CHECK_SECONDS:-300}))
failed=0 incomplete=0
summary=$results/summary.txt

note() { echo "$*" | tee -a "$summary"; }
pack() { tar -czf "$results/logs.tar.gz" -C "$results" logs 2>/dev/null; }

# stage NAME SECONDS COMMAND...: runs COMMAND with its output in logs/NAME.log, for at most
# SECONDS or what is left before the deadline, and notes how it ended.
stage() {
  local name=$1 limit=$(($2 * ${MANTISSA_GPU_CHECK_STAGE_FACTOR:-1}))
  shift 2
  local left=$((deadline - $(date +%s)))
  if ((left < 5)); then
    note "$(printf '%-22s not run: the %ss deadline has passed' "$name" "${MANTISSA_GPU_CHECK_SECONDS:-300}")"
    incomplete=1
    return 1
  fi
  ((limit > left)) && limit=$left
  local start rc
  start=$(date +%s)
  timeout --kill-after=5 "$limit" bash "$self" --stage "$@" >"$results/logs/$name.log" 2>&1
  rc=$?
  local how="ok"
  ((rc == 124 || rc == 137)) && how="TIMED OUT after ${limit}s"
  ((rc != 0 && rc != 124 && rc != 137)) && how="FAILED"
  ((rc != 0)) && failed=1
  note "$(printf '%-22s %-26s rc=%-3s %4ss' "$name" "$how" "$rc" "$(($(date +%s) - start))")"
  ((rc != 0)) && tail -n 3 "$results/logs/$name.log" | sed 's/^/  | /' | tee -a "$summary"
  pack
  return $rc
}

# The lines of a stage's log that carry its figures, into the summary.
figures() { grep -E "$2" "$results/logs/$1.log" 2>/dev/null | sed 's/^/    /' | tee -a "$summary"; }

environment() {
  date -u
  nvidia-smi || echo "nvidia-smi: not available"
  echo "gpu: $(nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>&1)"
  nvcc --version || echo "nvcc: not on PATH"
  for tool in g++ cmake ninja; do command -v "$tool" >/dev/null && "$tool" --version | head -1 || echo "$tool: missing"; done
  grep PRETTY_NAME /etc/os-release || true
  echo "cores: $jobs"
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" ||
    echo "python3 has no CUDA torch"
  echo "cuDNN wheel: $(cudnn_root)"
  ls /usr/local/cuda/lib64/libcublasLt.so* 2>/dev/null || echo "no libcublasLt in /usr/local/cuda/lib64"
  ls "$deps/debs" 2>/dev/null || echo "no .gpu-deps/debs: run scripts/gpu_prepare.sh on a CPU machine first"
}

# The folder of python3's pip cuDNN (nvidia-cudnn-cu13) holding include/cudnn_graph.h and
# lib/libcudnn.so.9, where CUDNN_ROOT should point; empty if there is none.
cudnn_root() {
  local site header
  site=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" 2>/dev/null) || return 0
  header=$(find "$site/nvidia" -name cudnn_graph.h -path "*/include/*" 2>/dev/null | head -1)
  [ -n "$header" ] && dirname "$(dirname "$header")"
  return 0
}

# The totals of the ctest run in a log, the count of skips and the first failures by name.
test_totals() {
  grep -E "tests passed" "$1"
  echo "$(grep -cE '\(Skipped\)$' "$1") skipped"
  grep -E '^[[:space:]]+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Exception|.*aborted.*)\)$' "$1" | head -40
}

unpack() {
  rm -rf "$prefix"
  mkdir -p "$prefix"
  for deb in "$deps"/debs/*.deb; do
    dpkg -x "$deb" "$prefix" || { echo "could not unpack $deb"; return 1; }
    echo "unpacked $(basename "$deb")"
  done
}

gpu_arch() {
  [ -n "${MANTISSA_GPU_ARCH:-}" ] && { echo "$MANTISSA_GPU_ARCH"; return; }
  local cap
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')
  echo "${cap:-90}"
}

configure() {
  local generator="Unix Makefiles"
  command -v ninja >/dev/null && generator=Ninja
  cmake -S "$root" -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Release -DMANTISSA_CUDA=ON -DMANTISSA_BUILD_ASR=OFF \
    -DCMAKE_CUDA_ARCHITECTURES="$(gpu_arch)" -DCMAKE_PREFIX_PATH="$prefix/usr" -DCUDNN_ROOT="$(cudnn_root)" \
    -DCMAKE_POLICY_VERSION_MINIMUM=3.5
}

build() {
  cmake --build "$build" -j "$jobs" --target mantissa_tests mantissa_cuda_tests mantissa_example_tests llm bench_cuda \
    bench_gpt_step
}

gpu_tests() {
  MANTISSA_REQUIRE_GPU=1 ctest --test-dir "$build" -L gpu -j "$jobs" --timeout 120 --output-on-failure \
    --output-junit "$results/logs/gpu-tests.xml"
}

gpt_step() {
  for precision in 32-true bf16-mixed; do
    "$build/bench/bench_gpt_step" --device cuda --precision "$precision" --steps 30 --shared-bench "$deps/bench" ||
      return 1
  done
}

llm_train() {  # precision
  rm -rf "$llm_runs/$1"
  "$build/examples/llm/llm" train --preset gpu --device cuda --precision "$1" --steps 200 --eval-interval 100 \
    --eval-iters 10 --log-interval 25 --out-dir "$llm_runs/$1"
}

# The trainings' metrics (not their checkpoints) into the results, however the stage ended.
keep_metrics() {  # precision
  for f in "$llm_runs/$1"/*.jsonl; do [ -f "$f" ] && cp "$f" "$results/logs/llm-${1//+/-}.$(basename "$f")"; done
  return 0
}

# Our binaries find the unpacked packages and the pip cuDNN here (libdnnl.so.2 needs
# libOpenCL.so.1, which no RUNPATH of ours reaches); PyTorch is run without it.
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:$(cudnn_root)/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export MANTISSA_DATA_DIR=$deps/data

# A stage's own process (timeout needs a program, not a shell function): run one function.
if [ "${1:-}" = "--stage" ]; then
  shift
  "$@"
  exit
fi

mkdir -p "$results/logs"
: >"$summary"
note "mantissa GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
stage environment 20 environment
figures environment "^gpu: |release [0-9]|^g\+\+|^cmake version|^torch |^cores"
if [ -d "$deps/debs" ]; then stage unpack 20 unpack; fi
stage configure 60 configure && stage build 180 build && {
  stage gpu-tests 120 gpu_tests
  test_totals "$results/logs/gpu-tests.log" | sed 's/^[[:space:]]*/    /' | tee -a "$summary"
  stage gpt-step 75 gpt_step
  figures gpt-step "^GPT|ms/step|not available"
  for precision in bf16-mixed bf16-mixed+fp8; do
    stage "llm-${precision//+/-}" 40 llm_train "$precision"
    keep_metrics "$precision"
    figures "llm-${precision//+/-}" "^model|^step [0-9]+:|^done"
  done
  stage bench-cuda 60 "$build/bench/bench_cuda"
  figures bench-cuda "."
}
if ((failed)); then
  note "some stages failed: read logs.tar.gz"
elif ((incomplete)); then
  note "every stage that ran passed, but the deadline cut the check short"
else
  note "every stage passed"
fi
pack
exit $((failed ? 1 : incomplete ? 2 : 0))
