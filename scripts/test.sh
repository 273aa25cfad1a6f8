#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every stage —
# unit tests (no privileges), integration tests (root: real nginx, real BPF),
# the same suite under ASan + UBSan (clang; the fuzz targets come with it),
# and smoke runs of the benchmark and the soak. Every stage runs even when an
# earlier one failed (unless it needs what failed); the end is one pass/fail
# line per stage, and the exit status is non-zero if any stage failed.
# Usage: sudo scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "test.sh: run as root (sudo scripts/test.sh): the integration tests load BPF programs" >&2
  exit 2
fi
build_dir=${BUILD_DIR:-build}

summary=()
failed=0
# stage NAME COMMAND...: runs it, and notes its result and duration.
stage() {
  local name=$1 start=$SECONDS
  shift
  echo "=== test.sh: $name" >&2
  if "$@"; then
    summary+=("pass  $name ($((SECONDS - start)) s)")
    return 0
  fi
  summary+=("FAIL  $name ($((SECONDS - start)) s)")
  failed=1
  return 1
}
not_run() { summary+=("----  $1 (not run: $2)"); failed=1; }
# A stage this host cannot run, said in the summary; not a failure.
skipped() { summary+=("skip  $1 ($2)"); }

sanitized_ctest() {
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-sanitize --output-on-failure --no-tests=error "$@"
}

# The sanitizer build, started once the first build is done: it runs beside
# the stages that mostly wait on nginx, backends and sleeps (integration,
# soaks, the matrix), niced so that they come first. Its log is printed when
# it is waited for.
sanitize_log=$(mktemp)
trap 'rm -f "$sanitize_log"' EXIT
start_sanitizer_build() {
  env CC=clang-14 CXX=clang++-14 BUILD_DIR=build-sanitize nice -n 19 scripts/build.sh -DWHY502_FUZZ=ON \
    >"$sanitize_log" 2>&1 &
  sanitize_pid=$!
}
wait_for_sanitizer_build() {
  local rc=0
  wait "$sanitize_pid" || rc=$?
  cat "$sanitize_log" >&2
  return "$rc"
}

if stage "install dependencies" scripts/install-deps.sh; then
  stage "build" scripts/build.sh
  built=$?
  start_sanitizer_build
  if ((built == 0)); then
    stage "unit tests" ctest --test-dir "$build_dir" --output-on-failure --no-tests=error --label-exclude root
    stage "integration tests (root)" ctest --test-dir "$build_dir" --output-on-failure --no-tests=error --label-regex root
    # One short round of the benchmark, only to show it still runs (docs/BENCHMARKS.md).
    stage "benchmark smoke" scripts/bench.py --rounds 1 --seconds 1 --why502 "$build_dir/why502"
    # Ten seconds of the soak (10k idle upstream connections and a 502 storm),
    # and 20 s of the always-on soak (serve --lean, reloads and an upgrade).
    stage "soak smoke" scripts/soak.py --seconds 10 --why502 "$build_dir/why502"
    stage "always-on soak smoke" scripts/soak.py --always-on --seconds 20 --why502 "$build_dir/why502"
    # The suites that read nginx's memory against nginx built from source
    # (../shared/nginx-src): nginx.org's flavour of 1.31.4 and the default
    # configure of 1.30.4, within CI's time (scripts/test-matrix.sh runs all four).
    # Without the sources (a checkout away from ../shared) its legs cannot be
    # built: the summary says so rather than passing a stage that ran nothing.
    matrix_source=$(scripts/nginx-src.sh)
    if [[ -e $matrix_source ]]; then
      stage "nginx build matrix" env WHY502_MATRIX_DEBIAN=0 WHY502_NGINX_BUILDS="1.31.4-nginxorg 1.30.4-default" \
        scripts/test-matrix.sh
    else
      skipped "nginx build matrix" "no nginx sources at $matrix_source; set WHY502_NGINX_SRC"
    fi
    # The .deb: built, installed with apt, run, verified, purged.
    stage "Debian package" tests/package/install_test.sh
  else
    for s in "unit tests" "integration tests (root)" "benchmark smoke" "soak smoke" "always-on soak smoke" \
             "nginx build matrix" "Debian package"; do not_run "$s" "the build failed"; done
  fi
  # The whole suite again, built with AddressSanitizer and UndefinedBehaviorSanitizer:
  # a finding fails the test whose process hit it. Built by clang in the fuzz
  # targets' configuration, so CI's fuzzing (.ci/run) reuses this build.
  if stage "sanitizer build (clang; beside the stages above)" wait_for_sanitizer_build; then
    stage "unit and integration tests under ASan+UBSan" sanitized_ctest
  else
    not_run "unit and integration tests under ASan+UBSan" "the sanitizer build failed"
  fi
else
  not_run "everything else" "dependencies could not be installed"
fi

echo
echo "test.sh: stages"
for line in "${summary[@]}"; do echo "  $line"; done
if ((failed)); then
  echo "test.sh: FAILED"
  exit 1
fi
echo "test.sh: all stages passed"
