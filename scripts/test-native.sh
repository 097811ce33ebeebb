#!/usr/bin/env bash
# Builds the C++ core with CMake and runs the GoogleTest suite through ctest, with a throwaway
# PostgreSQL (scripts/postgres-temp.sh) for the real-PostgreSQL tests: they are part of the
# suite, so missing PostgreSQL binaries fail this script rather than skip them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres-temp.sh
px_pg_start  # exports PX_TEST_PG_URL; stops and removes the server on exit
cmake -S . -B build-cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-cmake -j"$(nproc)"
# The real-PostgreSQL tests register only when PX_TEST_PG_URL is set (ctest lists them at run
# time, DISCOVERY_MODE PRE_TEST): make sure they are in the list, never silently absent.
pg_listed() {
  (cd build-cmake && ctest -N -R '^(store\.(PgUsageTarget|PgRegistrations)|cluster\.ClusterNode)\.' |
    grep -c 'Test *#' || true)
}
if [ "$(pg_listed)" -lt 3 ]; then
  echo "test-native: the real-PostgreSQL tests are not in ctest's list" >&2
  exit 1
fi
cd build-cmake && ctest --output-on-failure -j"$(nproc)"
