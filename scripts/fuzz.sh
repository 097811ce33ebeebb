#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan+UBSan, in build-fuzz/) and runs each for a
# given time on a scratch copy of its seed corpus (the committed corpus is never written).
#
#   bash scripts/fuzz.sh [seconds-per-target] [target...]     (default: 60 s, every target)
#
# Prints per target: executions, exec/s, corpus growth, CPU time and the verdict. Exits non-zero
# when a target crashes, leaks, times out on an input or runs out of memory; the reproducer is
# kept in build-fuzz/artifacts/<target>/ (run it with: build-fuzz/fuzz_<target> <file>).
# scripts/test.sh runs it for a few seconds per target as a smoke check. fuzz/README.md tells
# how to run long campaigns.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ALL_TARGETS=(address pidf servicedata segmenter config sip_message sip_watcher sip_watcher_tcp)
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then TARGETS=("${ALL_TARGETS[@]}"); fi
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: seconds-per-target must be a positive integer, got '$SECONDS_PER_TARGET'" >&2
  exit 2
fi
for t in "${TARGETS[@]}"; do
  if [ ! -d "fuzz/corpus/$t" ]; then
    echo "fuzz.sh: unknown target '$t' (known: ${ALL_TARGETS[*]})" >&2
    exit 2
  fi
done
if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ not found; run: bash scripts/install-deps.sh --with-fuzz-tools" >&2
  exit 2
fi

# Build (incremental after the first time).
cmake -S . -B build-fuzz -DPX_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ >build-fuzz.cmake.log 2>&1 || {
  cat build-fuzz.cmake.log >&2
  exit 2
}
rm -f build-fuzz.cmake.log
build_targets=()
for t in "${TARGETS[@]}"; do build_targets+=(--target "fuzz_$t"); done
cmake --build build-fuzz -j"$(nproc)" "${build_targets[@]}"

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/px-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

# The watcher target sends only to loopback (fuzz/LoopbackOnly.cc); where possible it also runs
# in a network namespace of its own that has nothing but loopback.
netns_prefix() {
  if command -v unshare >/dev/null && command -v ip >/dev/null &&
    unshare -n sh -c 'ip link set lo up' 2>/dev/null; then
    echo "unshare -n sh -c 'ip link set lo up && exec \"\$0\" \"\$@\"'"
  fi
}
NETNS=$(netns_prefix)

failed=()
printf '%-16s %10s %8s %13s %8s %8s  %s\n' target execs exec/s corpus wall-s cpu-s verdict
for t in "${TARGETS[@]}"; do
  work="$SCRATCH/$t"
  rm -rf "build-fuzz/artifacts/$t"  # what a previous run left
  mkdir -p "$work/corpus" "$work/artifacts" "$work/cwd"
  cp -a "fuzz/corpus/$t/." "$work/corpus/"
  seeds=$(find "$work/corpus" -type f | wc -l)
  # A hang is an input that takes over 10 s; the watcher target waits up to 30 s for an answer
  # itself and says so when the watcher stops answering.
  timeout=10
  case "$t" in sip_watcher*) timeout=60 ;; esac
  args=("$work/corpus" "-max_total_time=$SECONDS_PER_TARGET" "-timeout=$timeout" -rss_limit_mb=2048
    -print_final_stats=1 "-artifact_prefix=$work/artifacts/")
  case "$t" in
    address | pidf | config) args+=("-dict=$ROOT/fuzz/dict/$t.dict") ;;
    sip_message) args+=("-dict=$ROOT/fuzz/dict/sip.dict") ;;
    # Its state lives on the SIP thread across inputs, so libFuzzer's per-input leak check (an
    # LSan stop-the-world whenever an input allocates more than it frees) would run on nearly
    # every input; leaks are still checked when the run ends.
    sip_watcher*) args+=("-dict=$ROOT/fuzz/dict/sip.dict" -detect_leaks=0) ;;
  esac
  cmd=("$ROOT/build-fuzz/fuzz_$t" "${args[@]}")
  log="$work/fuzz.log"
  # The config loader resolves relative paths: every target runs in an empty directory.
  TIMEFORMAT='%R %U %S'
  set +e
  if [[ "$t" == sip_watcher* ]] && [ -n "$NETNS" ]; then
    { time { (cd "$work/cwd" && eval "$NETNS" '"${cmd[@]}"') >"$log" 2>&1; }; } 2>"$work/time"
  else
    { time { (cd "$work/cwd" && "${cmd[@]}") >"$log" 2>&1; }; } 2>"$work/time"
  fi
  rc=$?
  set -e
  read -r wall user sys <"$work/time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work/corpus" -type f | wc -l)
  verdict=ok
  artifacts=$(find "$work/artifacts" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$artifacts" -ne 0 ]; then
    verdict="FAILED (exit $rc)"
    failed+=("$t")
    keep="build-fuzz/artifacts/$t"
    mkdir -p "$keep"
    cp -a "$work/artifacts/." "$keep/" 2>/dev/null || true
    cp "$log" "$keep/fuzz.log"
  fi
  printf '%-16s %10s %8s %5s -> %-5s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$seeds" \
    "$corpus" "$wall" "$cpu" "$verdict"
  if [ "$verdict" != ok ]; then
    echo "---- fuzz_$t: the end of its log (full log and reproducers in build-fuzz/artifacts/$t/)"
    grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse|INITED)' "$log" | tail -40
    echo "----"
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${#TARGETS[@]} target(s), no crash in ${SECONDS_PER_TARGET}s each"
