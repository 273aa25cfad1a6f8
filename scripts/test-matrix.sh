#!/usr/bin/env bash
# The nginx build matrix: the root suites that read nginx's memory, run against
# Debian's nginx and against nginx 1.30 / 1.31 built from source in two
# flavours (scripts/build-nginx.sh). Ends with one pass/fail line per leg and
# how long it took; exit status non-zero if any leg failed.
#
#   sudo scripts/test-matrix.sh
#
# The sources: $WHY502_NGINX_SRC, a folder of nginx-VERSION.tar.gz archives or
# one archive (default ../shared/nginx-src next to the repo). Without them only
# the Debian leg runs, and the last line says how to run the rest.
# BUILD_DIR (default build) is the CMake build; WHY502_MATRIX_FILTER overrides
# the gtest filter of the suites; WHY502_MATRIX_DEBIAN=0 leaves out the Debian
# leg (test.sh has run every suite against it already); WHY502_NGINX_BUILDS
# picks builds (see scripts/build-nginx.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "test-matrix.sh: run as root (sudo scripts/test-matrix.sh): the suites load BPF programs" >&2
  exit 2
fi
build_dir=${BUILD_DIR:-build}
filter=${WHY502_MATRIX_FILTER:-GatewayErrors.*:MoreCauses.*:BackendDeaths.*:ListenerLimits.*:Lifecycle.*:HookSets/KeepaliveRaces.*}
source=$(scripts/nginx-src.sh)

summary=()
failed=0
leg() {  # NAME COMMAND...
  local name=$1 start=$SECONDS
  shift
  echo "=== test-matrix.sh: $name" >&2
  if "$@" >&2; then
    summary+=("pass  $name ($((SECONDS - start)) s)")
  else
    summary+=("FAIL  $name ($((SECONDS - start)) s)")
    failed=1
  fi
}
suites() {  # NGINX_BINARY
  WHY502_TEST_NGINX=$1 "$build_dir/tests/why502_integration_tests" --gtest_filter="$filter" --gtest_brief=1
}

leg "build why502 and its tests" cmake --build "$build_dir" -j2 --target why502 why502_unit_tests \
  why502_integration_tests || { printf '%s\n' "${summary[@]}"; exit 1; }

builds=()
if [[ -e $source ]]; then
  start=$SECONDS
  if mapfile -t builds < <(scripts/build-nginx.sh "$source") && ((${#builds[@]} > 0)); then
    summary+=("pass  build nginx from $source ($((SECONDS - start)) s)")
    # The layout table against each build's debug info.
    leg "layout table = DWARF of each build" "$build_dir/tests/why502_unit_tests" \
      --gtest_filter='NginxLayoutTable.AgreesWithTheDebugInfoOfEveryMatrixBuild'
  else
    summary+=("FAIL  build nginx from $source ($((SECONDS - start)) s)")
    failed=1
    builds=()
  fi
fi

if [[ ${WHY502_MATRIX_DEBIAN:-1} != 0 ]]; then
  leg "Debian /usr/sbin/nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //')" suites /usr/sbin/nginx
fi
for line in "${builds[@]}"; do
  leg "nginx ${line%% *}" suites "${line#* }"
done

echo "=== test-matrix.sh: summary" >&2
printf '%s\n' "${summary[@]}"
if [[ ! -e $source ]]; then
  ran="Debian's nginx only"
  [[ ${WHY502_MATRIX_DEBIAN:-1} != 0 ]] || ran="no leg ran"
  echo "$ran: no nginx sources at $source; set WHY502_NGINX_SRC to a folder of nginx-VERSION.tar.gz archives (or one archive) to run the other legs"
fi
exit $failed
