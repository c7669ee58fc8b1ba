#!/usr/bin/env bash
# Builds circuitscan and runs the whole test suite: once optimised, once under AddressSanitizer
# and UBSan, then every fuzz target for a few seconds (scripts/fuzz.sh). This is the README's test
# command and exactly what CI runs. CS_SKIP_SANITIZERS=1 skips the second pass and the fuzzing,
# CS_SKIP_FUZZ=1 the fuzzing alone.
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
if [ "${CS_SKIP_SANITIZERS:-0}" != "1" ] && [ "${CS_SKIP_FUZZ:-0}" != "1" ]; then
  if command -v "${CXX_FUZZ:-clang++-14}" >/dev/null 2>&1; then
    # 10 targets x 8 s, two at a time on two cores: about 45 s after the build.
    scripts/fuzz.sh --all "${CS_FUZZ_SECONDS:-8}"
  else
    echo "fuzz: skipped: ${CXX_FUZZ:-clang++-14} not found (sudo scripts/setup.sh installs it)"
  fi
fi
