#!/usr/bin/env bash
# Builds the Debian package build/why502_<version>_amd64.deb from the install
# rules in CMakeLists.txt (CPack's DEB generator): /usr/sbin/why502, the
# systemd unit, the man page, bash completion, alerts.yml and the dashboard.
# Depends: is computed from the binary by dpkg-shlibdeps.
# Usage: scripts/package.sh        (then: sudo apt install ./build/why502_*_amd64.deb)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
# Only what the package holds is built: installing skips the "all" target.
scripts/build.sh --target why502 --target why502_man -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON
(cd "$build_dir" && cpack -G DEB >/dev/null)
ls "$build_dir"/why502_*_amd64.deb
