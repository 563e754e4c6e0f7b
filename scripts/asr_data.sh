#!/usr/bin/env bash
# The ASR example's optional data: installs espeak-ng and the asterisk English prompts (Debian
# packages) when missing, then makes the espeak-ng voices and the asterisk test set under DIR
# (default ./asr-data, where `asr train` and `asr eval` look when run from the same folder;
# scripts/make_asr_data.py says what each holds). Extra arguments go to make_asr_data.py
# (--seed, --train, --test, --force).
set -euo pipefail
out="${1:-asr-data}"
case "$out" in -*) echo "usage: bash scripts/asr_data.sh [DIR] [make_asr_data.py options]" >&2; exit 2 ;; esac
shift || true
mkdir -p "$out"
out="$(cd "$out" && pwd)"  # DIR is taken relative to where the script is run, as asr's --extra-data is
cd "$(dirname "$0")/.."
bash scripts/install_packages.sh espeak-ng asterisk-core-sounds-en-wav asterisk-core-sounds-en
python3 scripts/make_asr_data.py "$out" "$@"
