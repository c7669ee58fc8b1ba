#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cpp: clang-14, coverage + AddressSanitizer + UBSan,
# in build-fuzz/) and runs them for a bounded time, each on a working copy of its seed corpus.
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags]   one target, e.g. scripts/fuzz.sh config 1800
#   scripts/fuzz.sh --all SECONDS [libFuzzer flags]    every target, $FUZZ_JOBS (default $(nproc))
#                                                      at a time (test.sh)
#   scripts/fuzz.sh --list                             the targets
#
# TARGET is a file name under fuzz/ without _fuzz.cpp (safetensors, index, config, ...). The
# committed seeds (fuzz/corpus/TARGET) are read, never written; what the fuzzer finds goes to
# build-fuzz/corpus/TARGET, and any crash, leak, timeout or out-of-memory input to
# build-fuzz/findings/TARGET/ (replay one with build-fuzz/fuzz/TARGET_fuzz FILE). Limits per
# input: 10 s, 2 GB RSS, 1 GB per allocation. Exit status: non-zero when a target found anything.
set -euo pipefail
cd "$(dirname "$0")/.."
CXX_FUZZ=${CXX_FUZZ:-clang++-14}

targets() { for f in fuzz/*_fuzz.cpp; do f=${f#fuzz/}; echo "${f%_fuzz.cpp}"; done; }

build() {
  if ! command -v "$CXX_FUZZ" >/dev/null 2>&1; then
    echo "fuzz: $CXX_FUZZ not found; sudo scripts/setup.sh installs it" >&2
    return 1
  fi
  cmake -G Ninja -B build-fuzz -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_FUZZ" \
    -DCS_FUZZ=ON >/dev/null
  ninja -C build-fuzz fuzz >/dev/null
}

# run TARGET SECONDS [flags]: libFuzzer's output to build-fuzz/logs/TARGET.log, one summary line
# on stdout; returns libFuzzer's status.
run() {
  local t=$1 s=$2
  shift 2
  [ -f "fuzz/${t}_fuzz.cpp" ] || { echo "fuzz: no target '$t' (scripts/fuzz.sh --list)" >&2; return 2; }
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/findings/$t" build-fuzz/logs
  local log="build-fuzz/logs/$t.log" rc=0 start=$SECONDS
  OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    nice -n "${FUZZ_NICE:-0}" "build-fuzz/fuzz/${t}_fuzz" "build-fuzz/corpus/$t" "fuzz/corpus/$t" \
    -max_total_time="$s" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=16384 \
    -artifact_prefix="build-fuzz/findings/$t/" -print_final_stats=1 "$@" >"$log" 2>&1 || rc=$?
  local execs rate cov
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    printf 'fuzz %-15s %6s s  %10s execs  %7s exec/s  %s  clean\n' "$t" "$((SECONDS - start))" "${execs:-?}" \
      "${rate:-?}" "$cov"
  else
    printf 'fuzz %-15s FAILED (status %s); log %s, inputs in build-fuzz/findings/%s/\n' "$t" "$rc" "$log" "$t"
    grep -E 'ERROR|SUMMARY|terminate|what\(\)|runtime error' "$log" | head -5 | sed 's/^/  /'
  fi
  return "$rc"
}

case "${1:-}" in
  --list) targets ;;
  --all)
    [ $# -ge 2 ] || { echo "usage: scripts/fuzz.sh --all SECONDS [libFuzzer flags]" >&2; exit 2; }
    build
    export -f run
    export FUZZ_NICE
    status=0
    seconds=$2
    shift 2
    targets | xargs -P "${FUZZ_JOBS:-$(nproc)}" -I{} bash -c 'run "$@"' _ {} "$seconds" "$@" || status=1
    exit "$status"
    ;;
  ""|-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  *)
    [ $# -ge 2 ] || { echo "usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags]" >&2; exit 2; }
    build
    run "$@"
    ;;
esac
