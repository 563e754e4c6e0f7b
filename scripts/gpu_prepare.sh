#!/usr/bin/env bash
# Prepares, on a CPU machine with apt access, what scripts/gpu_check.sh needs on a GPU machine
# that can reach nothing and has none of our Debian packages. Everything goes into .gpu-deps/
# (ignored by git), which travels with the checkout (the device tool's `carry`):
#   debs/   the Debian packages the build needs, as .deb files: gpu_check.sh unpacks them with
#           dpkg -x into a prefix the build points at; nothing is installed there. They are
#           scripts/setup.sh's -dev packages without the toolchain, plus the shared libraries
#           those need at run time that a CUDA image may lack (oneDNN's OpenCL loader, fmt,
#           PCRE2); libc, libstdc++ and libgomp come with the image's compiler.
#   bench/  ../shared/bench's torch_gpt.py and torch_common.py: PyTorch's GPT step workload.
#   data/   Tiny Shakespeare, for the LLM example's training run.
# Usage: bash scripts/gpu_prepare.sh   (idempotent; about 15 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu-deps
shared="${MANTISSA_SHARED_DIR:-../shared}"
packages=(libdnnl-dev libdnnl2 ocl-icd-opencl-dev ocl-icd-libopencl1 opencl-c-headers opencl-clhpp-headers
  libfmt-dev libfmt9 libgtest-dev nlohmann-json3-dev libcli11-dev
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3)

rm -rf "$out/debs"
mkdir -p "$out/debs" "$out/bench" "$out/data/tinyshakespeare"
download() { (cd "$out/debs" && apt-get download -qq "${packages[@]}" 2>&1 | grep -v "unsandboxed" || true); }
download
if [ "$(ls "$out/debs" | wc -l)" -ne "${#packages[@]}" ]; then
  echo "gpu_prepare: refreshing apt's package lists"
  apt-get update -qq
  rm -f "$out/debs"/*.deb
  download
fi
[ "$(ls "$out/debs" | wc -l)" -eq "${#packages[@]}" ] || { echo "gpu_prepare: could not download every package" >&2; exit 1; }

cp "$shared/bench/torch_gpt.py" "$shared/bench/torch_common.py" "$out/bench/"
cp "$shared/data/tinyshakespeare/input.txt" "$out/data/tinyshakespeare/"
echo "gpu_prepare: $(du -sh "$out" | cut -f1) in $out ($(ls "$out/debs" | wc -l) packages); carry it with the checkout:"
echo "  device run: bash scripts/gpu_check.sh \$OUT   (carry: .gpu-deps)"
