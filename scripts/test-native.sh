#!/usr/bin/env bash
# Builds the C++ core with CMake and runs the GoogleTest suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-cmake -j"$(nproc)"
cd build-cmake && ctest --output-on-failure -j"$(nproc)"
