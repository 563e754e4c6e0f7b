#!/usr/bin/env bash
# libFuzzer targets (tests/fuzz/fuzz_*.cpp), each built with clang from the sources it needs
# alone, with ASan and UBSan, then run for SECONDS (default 60) from its committed seed corpus
# (tests/fuzz/corpus/<name>/, copied first: what a run finds stays in build-fuzz/). A crash,
# a sanitizer report or a failed check in the target fails the script and leaves the input
# as build-fuzz/<name>/crash-*.
#   bash scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bash scripts/setup.sh > /dev/null
bash scripts/install_packages.sh clang libclang-rt-14-dev
out=build-fuzz
mkdir -p "$out/include"
ln -sfn "$PWD" "$out/include/mantissa"  # <mantissa/...> is the source tree, as in the CMake build
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. -I"$out/include")

build() {  # build <name> <sources...> -- <link flags...>
  local name=$1
  shift
  local sources=() link=()
  while [[ $# -gt 0 && $1 != -- ]]; do sources+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift && link=("$@")
  clang++ "${flags[@]}" "${defines[@]}" "${sources[@]}" -o "$out/fuzz_$name" "${link[@]}"
}
defines=(-DMANTISSA_BPE_DIR="\"$(realpath ../shared/data/gpt2-bpe)\"")
build bpe_tokenizer tests/fuzz/fuzz_bpe_tokenizer.cpp examples/llm/bpe_tokenizer.cpp examples/llm/utf8.cpp \
  -- -lpcre2-8 -lfmt
build safetensors_header tests/fuzz/fuzz_safetensors_header.cpp core/io/safetensors_header.cpp core/dtype.cpp -- -lfmt
build checkpoint_metadata tests/fuzz/fuzz_checkpoint_metadata.cpp train/checkpoint_metadata.cpp \
  examples/llm/run_record.cpp examples/llm/gpt_config.cpp -- -lfmt
build audio_file tests/fuzz/fuzz_audio_file.cpp examples/asr/audio_file.cpp -- -lsndfile -lsamplerate -lfmt

for target in "$out"/fuzz_*; do
  name=${target##*/fuzz_}
  rm -rf "$out/$name" && mkdir -p "$out/$name/corpus"
  cp tests/fuzz/corpus/"$name"/* "$out/$name/corpus/"
  echo "fuzz: $name for $seconds s"
  (cd "$out/$name" && "../fuzz_$name" -max_total_time="$seconds" -seed=1 -print_final_stats=1 corpus \
    > log.txt 2>&1) || { tail -40 "$out/$name/log.txt"; echo "fuzz: $name FAILED"; exit 1; }
  grep -E "^Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb" "$out/$name/log.txt" | sed "s/^/fuzz: $name: /"
done
