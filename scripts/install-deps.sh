#!/usr/bin/env bash
# Installs what parlayx-gateway needs on Debian 12 (as root): the build toolchain and libraries of
# the native core, and the tools of the test suite (Kamailio presence server, SIPp). Idempotent:
# installs only what is missing, so a warm machine pays nothing.
#
#   install-deps.sh [--runtime] [--with-test-tools | --with-fuzz-tools | --with-bench-tools | --with-presence-server]
#
# Without options: the build packages. --runtime: only the shared libraries a built addon loads,
# instead of the build packages (the Docker image's final stage, Dockerfile); it combines with
# the --with-* options, e.g. --runtime --with-presence-server.
set -euo pipefail

BUILD_PACKAGES=(g++ make cmake pkg-config python3 libsofia-sip-ua-dev libyaml-cpp-dev libexpat1-dev libsqlite3-dev libpq-dev)
# What build/Release/parlayx_gateway.node links (ldd) beyond libc: the runtime halves of the -dev
# packages above, and libstdc++.
RUNTIME_PACKAGES=(libsofia-sip-ua0 libyaml-cpp0.7 libexpat1 libsqlite3-0 libpq5 libstdc++6)
# chromium: the headless browser of the admin page test (tests/js/admin-page.test.js, driven by
# playwright-core with /usr/bin/chromium; no browser is downloaded).
# postgresql: the server (initdb, pg_ctl, postgres, psql in /usr/lib/postgresql/<n>/bin) that the
# PostgreSQL usage store tests start in a temporary directory (tests/support/postgres.js); as
# root they run it as the package's `postgres` user. The package's own cluster is not used.
TEST_PACKAGES=(googletest libgtest-dev kamailio kamailio-presence-modules kamailio-sqlite-modules sqlite3 sip-tester chromium postgresql)
# libFuzzer targets (fuzz/, scripts/fuzz.sh; the test suite smoke-runs them): clang 14 with the
# compiler-rt runtimes (libFuzzer, ASan, UBSan), which are only a recommendation of clang-14;
# iproute2 brings up loopback in the network namespace of the SIP watcher target.
FUZZ_PACKAGES=(clang libclang-rt-14-dev iproute2)

want=("${BUILD_PACKAGES[@]}")
if [ "${1:-}" = "--runtime" ]; then
  want=("${RUNTIME_PACKAGES[@]}")
  shift
fi
if [ "${1:-}" = "--with-test-tools" ]; then want+=("${TEST_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"); fi
if [ "${1:-}" = "--with-fuzz-tools" ]; then want+=("${FUZZ_PACKAGES[@]}"); fi
if [ "${1:-}" = "--with-bench-tools" ]; then want+=(sip-tester wrk postgresql); fi
if [ "${1:-}" = "--with-presence-server" ]; then want+=(kamailio kamailio-presence-modules kamailio-sqlite-modules sqlite3); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
