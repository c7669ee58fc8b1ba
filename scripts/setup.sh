#!/usr/bin/env bash
# Installs circuitscan's build dependencies from Debian bookworm packages. Idempotent.
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config ccache
      libopenblas-openmp-dev nlohmann-json3-dev libpcre2-dev libsentencepiece-dev libgtest-dev googletest
      python3-dev python3-pybind11 python3-numpy python3-pytest)  # the Python module and its tests
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all build dependencies are installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}; run this script as root (sudo scripts/setup.sh)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: installed ${missing[*]}"
