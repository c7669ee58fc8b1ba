#!/usr/bin/env bash
# Installs circuitscan's build dependencies from Debian bookworm packages. Idempotent: with
# everything installed it changes nothing and needs no privileges. When packages are missing it
# runs apt-get as root directly, or through sudo for a user (a fresh Debian has no sudo, and
# root needs none), so the README's `scripts/setup.sh && scripts/demo.sh` works as both.
set -euo pipefail
# clang-14 with libFuzzer and libomp: the fuzz targets (scripts/fuzz.sh), which test.sh runs.
# OpenMPI (libopenmpi-dev, mpirun): the data-parallel passes and `sweep` over ranks, and the
# two-rank tests that test.sh runs under mpirun; the build works without it (CS_WITH_MPI=OFF).
PKGS=(build-essential cmake ninja-build pkg-config ccache
      libopenblas-openmp-dev nlohmann-json3-dev libpcre2-dev libsentencepiece-dev libdnnl-dev
      libgtest-dev googletest clang-14 libclang-rt-14-dev libomp-14-dev
      libopenmpi-dev openmpi-bin
      python3-dev python3-pybind11 python3-numpy python3-pytest  # the Python module and its tests
      chromium)  # the tests that render report.html and compare.html headless
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all build dependencies are installed"
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup: missing packages: ${missing[*]}; run this script as root (no sudo found)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]} with sudo"
  as_root=(sudo)
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: installed ${missing[*]}"
