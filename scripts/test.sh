#!/usr/bin/env bash
# Builds circuitscan and runs the whole test suite: once optimised, once under AddressSanitizer
# and UBSan. This is the README's test command and exactly what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)
cmake -G Ninja -B build -S . -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build
ctest --test-dir build --output-on-failure -j "$jobs"
if [ "${CS_SKIP_SANITIZERS:-0}" != "1" ]; then
  cmake -G Ninja -B build-asan -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCS_SANITIZE=ON >/dev/null
  ninja -C build-asan
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE slow
fi
