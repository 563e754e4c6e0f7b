#!/usr/bin/env bash
# Installs every Debian package mantissa's build, tests and examples need; idempotent:
# does nothing when all are present, runs `apt-get update` once otherwise. python3 runs the
# layering check (scripts/check_layering.py), one of the tests.
set -euo pipefail
# ocl-icd-opencl-dev: Debian's oneDNN CMake config runs find_package(OpenCL) (its GPU
# runtime is OpenCL), so configuring fails without the OpenCL headers and library even
# though mantissa never uses them; libdnnl-dev only recommends the package.
# libopenmpi-dev and openmpi-bin (mpirun): distributed/'s CPU engine and the multi-process tests.
# libsndfile1-dev, libsamplerate0-dev, libkissfft-dev: the ASR example reads, resamples and
# transforms audio (espeak-ng and asterisk-core-sounds-en-wav serve only its optional data
# sets: scripts/asr_data.sh installs them).
packages=(cmake g++ make libdnnl-dev ocl-icd-opencl-dev libfmt-dev libgtest-dev nlohmann-json3-dev
  libcli11-dev libpcre2-dev python3 libopenmpi-dev openmpi-bin
  libsndfile1-dev libsamplerate0-dev libkissfft-dev)
bash "$(dirname "$0")/install_packages.sh" "${packages[@]}"
echo "setup: all packages present"

# Python's safetensors (with numpy and ml_dtypes) lets the interop test check that files
# written by mantissa load in Python. Best effort: without it that test reports a skip.
if command -v python3 >/dev/null && ! python3 -c "import safetensors, numpy, ml_dtypes" 2>/dev/null; then
  echo "setup: installing Python safetensors, numpy, ml_dtypes (for the interop test)"
  python3 -m pip install -q --disable-pip-version-check safetensors numpy ml_dtypes 2>/dev/null ||
    python3 -m pip install -q --disable-pip-version-check --break-system-packages safetensors numpy ml_dtypes ||
    echo "setup: could not install them; the safetensors interop test will be skipped"
fi
