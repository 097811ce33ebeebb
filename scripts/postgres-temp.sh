#!/usr/bin/env bash
# A throwaway PostgreSQL for the native tests: initdb into a fresh temporary directory, the
# server listening only on a unix socket in that directory (no TCP), trust authentication for
# the `postgres` role, fsync off; stopped and removed when the script (or the shell sourcing it)
# exits. The conventions are tests/support/postgres.js's (the Jest side).
#
#   scripts/postgres-temp.sh COMMAND [ARG...]   runs COMMAND with PX_TEST_PG_URL set; exits
#                                               with its status
#   source scripts/postgres-temp.sh             defines px_pg_start / px_pg_stop; px_pg_start
#                                               exports PX_TEST_PG_URL and sets the EXIT trap
#
# Binaries: $PX_PG_BIN when set, else the newest /usr/lib/postgresql/<version>/bin with initdb
# (Debian's postgresql package, installed by scripts/install-deps.sh --with-test-tools), else
# `pg_config --bindir`. Missing binaries are an error, never a silent skip. initdb and postgres
# refuse to run as root: as root they run as the `postgres` system user through runuser.

px_pg_bin_dir() {
  local dir
  if [ -n "${PX_PG_BIN:-}" ]; then
    if [ -x "$PX_PG_BIN/initdb" ] && [ -x "$PX_PG_BIN/pg_ctl" ]; then
      echo "$PX_PG_BIN"
      return 0
    fi
    echo "postgres-temp: PX_PG_BIN=$PX_PG_BIN has no initdb/pg_ctl" >&2
    return 1
  fi
  for dir in $(ls -1d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  dir=$(pg_config --bindir 2>/dev/null || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
    echo "$dir"
    return 0
  fi
  echo "postgres-temp: no PostgreSQL server binaries (initdb, pg_ctl) found in" \
    "/usr/lib/postgresql/*/bin or pg_config --bindir; install Debian's postgresql" \
    "(scripts/install-deps.sh --with-test-tools) or set PX_PG_BIN" >&2
  return 1
}

# Runs a server binary, as `postgres` when we are root.
px_pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

px_pg_start() {
  [ -z "${PX_PG_DIR:-}" ] || return 0  # already running (sourced twice)
  local bin
  bin=$(px_pg_bin_dir) || return 1
  if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "postgres-temp: running as root, and there is no \`postgres\` user to run" \
      "initdb/postgres as" >&2
    return 1
  fi
  # Short path: the socket's path must stay under the 107 bytes of sun_path.
  PX_PG_DIR=$(mktemp -d /tmp/px-pg-XXXXXX)
  PX_PG_BIN_DIR=$bin
  trap px_pg_stop EXIT
  [ "$(id -u)" != 0 ] || chown postgres: "$PX_PG_DIR"
  if ! px_pg_as_owner "$bin/initdb" -D "$PX_PG_DIR/data" -U postgres --auth=trust -E UTF8 \
    --locale=C --no-sync >"$PX_PG_DIR/initdb.log" 2>&1; then
    echo "postgres-temp: initdb failed:" >&2
    cat "$PX_PG_DIR/initdb.log" >&2
    return 1
  fi
  # -h '': no TCP at all; -k: the socket in our directory, never /var/run/postgresql.
  if ! px_pg_as_owner "$bin/pg_ctl" -D "$PX_PG_DIR/data" -l "$PX_PG_DIR/postgres.log" \
    -o "-h '' -k $PX_PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    -w -t 30 start >/dev/null; then
    echo "postgres-temp: the server did not start:" >&2
    cat "$PX_PG_DIR/postgres.log" >&2
    return 1
  fi
  export PX_TEST_PG_URL="postgresql:///postgres?host=$PX_PG_DIR&user=postgres"
  echo "postgres-temp: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on" \
    "$PX_TEST_PG_URL" >&2
}

px_pg_stop() {
  [ -n "${PX_PG_DIR:-}" ] || return 0
  px_pg_as_owner "$PX_PG_BIN_DIR/pg_ctl" -D "$PX_PG_DIR/data" -m immediate -w -t 30 stop \
    >/dev/null 2>&1 || true
  rm -rf "$PX_PG_DIR"
  PX_PG_DIR=
  unset PX_TEST_PG_URL
}

# Executed rather than sourced: wrap the command.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
  fi
  px_pg_start
  status=0
  "$@" || status=$?
  exit "$status"
fi
