#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test (unit
# tests without privileges, integration tests as root against a real nginx).
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
