#!/usr/bin/env bash
# The Debian package, installed as a user would: builds it (scripts/package.sh),
# installs it with apt, runs the installed why502 (--version, doctor, man -w),
# checks the unit with systemd-analyze and that installing enabled nothing,
# then purges it and checks that nothing it installed is left. Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
fail() { echo "package test: FAIL: $*" >&2; exit 1; }

if dpkg-query -W -f='${Status}' why502 2>/dev/null | grep -q "install ok installed"; then
  fail "a why502 package is already installed here; this test installs and purges its own (apt purge why502 first)"
fi
deb=$(scripts/package.sh | tail -1)
[[ -f $deb ]] || fail "scripts/package.sh made no package"
dpkg-deb -f "$deb" Depends | grep -q libbpf1 || fail "Depends: does not name libbpf1: $(dpkg-deb -f "$deb" Depends)"

purge() { apt-get purge -y -qq why502 >/dev/null 2>&1 || true; }
trap purge EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null
installed=$(dpkg -L why502)

[[ $(command -v why502) == /usr/sbin/why502 ]] || fail "why502 is not /usr/sbin/why502 on PATH"
why502 --version | grep -Eq "^why502 [0-9.]+ \(commit [0-9a-f]+" || fail "--version: $(why502 --version)"
why502 doctor >/tmp/why502-package-doctor.txt || { cat /tmp/why502-package-doctor.txt; fail "the installed why502 doctor"; }
grep -q "uprobes  *ok" /tmp/why502-package-doctor.txt || fail "the installed (stripped) binary's uprobe check"
# (Printed: where this host's cgroup ids are read from, for whoever reads the log.)
grep "^cgroup2 filesystem" /tmp/why502-package-doctor.txt || fail "doctor has no cgroup2 row"
[[ $(man -w why502) == /usr/share/man/man8/why502.8.gz ]] || fail "man -w why502: $(man -w why502 2>&1)"
unit=/usr/lib/systemd/system/why502.service
grep -q "^ExecStart=/usr/sbin/why502 serve" "$unit" || fail "the unit does not run the installed binary"
systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
for want in /usr/share/why502/alerts.yml /usr/share/why502/grafana-dashboard.json \
            /usr/share/bash-completion/completions/why502 /usr/share/doc/why502/copyright; do
  [[ -f $want ]] || fail "$want is not installed"
done
if compgen -G "/etc/systemd/system/*.wants/why502.service" >/dev/null; then fail "installing enabled the service"; fi

purge
trap - EXIT
dpkg-query -W why502 >/dev/null 2>&1 && fail "why502 is still known to dpkg after purge"
while read -r path; do
  [[ -f $path || -L $path ]] && fail "left after purge: $path"
done <<<"$installed"
for dir in /usr/share/why502 /usr/share/doc/why502; do [[ -e $dir ]] && fail "left after purge: $dir"; done
echo "package test: $deb installs, runs, verifies and purges cleanly"
