#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test (unit
# tests without privileges, integration tests as root against a real nginx),
# then the same suite under ASan + UBSan (clang; the fuzz targets come with it),
# then smoke runs of the benchmark and the soak.
# Usage: sudo scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "test.sh: run as root (sudo scripts/test.sh): the integration tests load BPF programs" >&2
  exit 2
fi
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure
# The whole suite again, built with AddressSanitizer and UndefinedBehaviorSanitizer:
# a finding fails the test whose process hit it. Built by clang in the fuzz
# targets' configuration, so CI's fuzzing (.ci/run) reuses this build.
CC=clang-14 CXX=clang++-14 BUILD_DIR=build-sanitize scripts/build.sh -DWHY502_FUZZ=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-sanitize --output-on-failure
# One short round of the benchmark, only to show it still runs (docs/BENCHMARKS.md).
scripts/bench.py --rounds 1 --seconds 1 --why502 "${BUILD_DIR:-build}/why502"
# Ten seconds of the soak (10k idle upstream connections and a 502 storm).
scripts/soak.py --seconds 10 --why502 "${BUILD_DIR:-build}/why502"
