#!/usr/bin/env bash
# Installs what why502 needs to build, test and run its demo on Debian 12,
# skipping packages that are already there. Needs root.
set -euo pipefail

# libclang-rt-14-dev: libFuzzer and the sanitizer runtimes (the sanitizer build of
# scripts/test.sh, scripts/fuzz.sh).
build_packages=(cmake g++ make pkg-config clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libcli11-dev
                libclang-rt-14-dev)
test_packages=(libgtest-dev libgmock-dev nlohmann-json3-dev nginx curl openssl python3 iproute2 nftables tmux
               php-fpm gunicorn uwsgi-core uwsgi-plugin-python3 ngtcp2-client prometheus prometheus-alertmanager chromium wrk libbenchmark-dev
               dpkg-dev man-db  # the package test builds a .deb and looks up its man page
               libpcre2-dev libssl-dev dwarves)  # scripts/build-nginx.sh, scripts/nginx-layout.sh
# ngtcp2-client: gtlsclient, the HTTP/3 client of the tests (curl has no HTTP/3 in Debian 12).

wanted=("${build_packages[@]}")
[[ "${1:-}" == "--build-only" ]] || wanted+=("${test_packages[@]}")

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 2
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
