#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan) into build-fuzz/
# (or $FUZZ_BUILD_DIR) and runs each for SECONDS_PER_TARGET seconds, two at a
# time, each from a scratch copy of its seed corpus in fuzz/corpus/ (the
# checked-in corpus never grows). Exits 1 and names the input when a target
# crashes, leaks, hits undefined behaviour or times out. Installs nothing:
# scripts/install-deps.sh --build-only provides clang and libFuzzer.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 600; CI uses 60)
#        FUZZ_TARGETS="event_decoder sock_diag" scripts/fuzz.sh 60   (only those)
#        FUZZ_PARALLEL=4 (targets at a time), FUZZ_BUILD_DIR=build-fuzz (a configured
#        clang build with -DWHY502_FUZZ=ON is reused as it is: CI passes build-sanitize)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
parallel=${FUZZ_PARALLEL:-2}
all_targets="recording_reader event_decoder elf_symbols nginx_log_classifier command_line proc_files sock_diag"
read -r -a targets <<<"${FUZZ_TARGETS:-$all_targets}"

if ! command -v clang++-14 >/dev/null ||
   ! compgen -G "$(clang++-14 -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  echo "fuzz.sh: clang 14 with libFuzzer is missing (clang-14, libclang-rt-14-dev);" \
       "run sudo scripts/install-deps.sh --build-only" >&2
  exit 2
fi

if [[ -f "$build_dir/CMakeCache.txt" ]]; then
  # A configured build (scripts/test.sh's sanitizer build is one): keep its settings.
  cmake -B "$build_dir" -DWHY502_FUZZ=ON >/dev/null
else
  CC=clang-14 CXX=clang++-14 cmake -B "$build_dir" -DWHY502_FUZZ=ON -DWHY502_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]/%/_fuzzer}"

# A fresh scratch area per run: working corpora, crash artifacts, logs.
work=$(realpath "$build_dir")/fuzz-run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$work"
echo "fuzz.sh: ${#targets[@]} targets, ${seconds} s each, ${parallel} at a time; scratch in $work" >&2

run_target() {
  local name=$1
  local corpus=$work/corpus/$name artifacts=$work/artifacts/$name/
  mkdir -p "$corpus" "$artifacts"
  cp -r fuzz/corpus/"$name"/. "$corpus"/
  # -timeout: one input taking this long is a hang, reported like a crash.
  "$build_dir/fuzz/${name}_fuzzer" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$artifacts" -print_final_stats=1 >"$work/$name.log" 2>&1
}

# Two at a time (one per core): start the next as soon as one finishes.
declare -A pid_of_target=()
for name in "${targets[@]}"; do
  while ((${#pid_of_target[@]} >= parallel)); do
    wait -n || true
    for running in "${!pid_of_target[@]}"; do
      kill -0 "${pid_of_target[$running]}" 2>/dev/null || unset "pid_of_target[$running]"
    done
  done
  echo "fuzz.sh: running $name" >&2
  run_target "$name" &
  pid_of_target[$name]=$!
done
failed=0
for name in "${targets[@]}"; do
  if [[ -n "${pid_of_target[$name]:-}" ]]; then wait "${pid_of_target[$name]}" || true; fi
done

# One line per target from libFuzzer's own log; any artifact is a failure.
printf '%-22s %-8s %12s %8s %8s %8s\n' target result executions cov features corpus
for name in "${targets[@]}"; do
  log=$work/$name.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  artifacts=("$work/artifacts/$name"/*)
  result=ok
  if [[ -e "${artifacts[0]}" ]] || ! grep -q '^Done [0-9]* runs' "$log"; then
    result=FAILED
    failed=1
  fi
  printf '%-22s %-8s %12s %8s %8s %8s\n' "$name" "$result" "${execs:--}" "${cov:--}" "${ft:--}" "${corp:--}"
done
if ((failed)); then
  for name in "${targets[@]}"; do
    for artifact in "$work/artifacts/$name"/*; do
      [[ -e "$artifact" ]] || continue
      echo "fuzz.sh: $name failed on $artifact" >&2
      echo "  reproduce: $build_dir/fuzz/${name}_fuzzer $artifact" >&2
    done
    if ! grep -q '^Done [0-9]* runs' "$work/$name.log"; then
      echo "fuzz.sh: $name did not finish; its log: $work/$name.log" >&2
      grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$work/$name.log" | head -5 >&2 || true
    fi
  done
  exit 1
fi
echo "fuzz.sh: no crashes; logs and working corpora in $work" >&2
