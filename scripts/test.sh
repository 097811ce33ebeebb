#!/usr/bin/env bash
# The one command that runs every test (README "Test"), from a fresh Debian 12 machine:
# installs missing Debian packages and npm packages, builds the addon, then runs GoogleTest
# (ctest), ESLint, the type test of index.d.ts (tsc over tests/types) and Jest (unit and
# integration tests against a real Kamailio on loopback), and smoke-runs every libFuzzer target
# for a few seconds (a crash fails the run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --with-test-tools
npm ci --no-audit --no-fund
bash scripts/test-native.sh
npx eslint .
npx tsc --noEmit -p tests/types
npx jest --ci
bash scripts/fuzz.sh "${PX_FUZZ_SMOKE_SECONDS:-5}"
