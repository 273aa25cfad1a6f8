#!/usr/bin/env bash
# Configures and builds why502 into build/ (or $BUILD_DIR): RelWithDebInfo,
# one job per core. This is the one build recipe (README, demo, tests,
# package). Usage: scripts/build.sh [--target NAME]... [-DCMAKE_OPTION=…]...
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
configure=()
targets=()
while (($#)); do
  case $1 in
    --target) targets+=(--target "$2"); shift 2 ;;
    *) configure+=("$1"); shift ;;
  esac
done
cmake -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${configure[@]}" >/dev/null
cmake --build "$build_dir" -j"$(nproc)" "${targets[@]}"
