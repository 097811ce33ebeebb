#!/usr/bin/env bash
# The command of the Docker image (Dockerfile): the README "Run" logic (scripts/start.sh) in a
# container, where everything is installed and built when the image is, and the listeners bind to
# every interface of the container (config/container.yaml).
#   PARLAYX_CONFIG unset: as start.sh, a local Kamailio presence server on 127.0.0.1:5060 seeded
#     with sip:alice@example.test open, sip:bob@example.test busy, sip:carol@example.test closed,
#     and the gateway on config/container.yaml plus the "demo" requester (its password is made on
#     the first run, kept in /app/var/demo-requester.password and printed).
#   PARLAYX_CONFIG=/path/to.yaml: the gateway alone, on that configuration (its presence server
#     is the one the configuration names); node is then the container's main process.
# docker stop (SIGTERM) drains and stops the gateway (admin.shutdownDeadlineMs), then Kamailio.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PARLAYX_CONFIG:-}" ]; then exec node js/cli.js serve --config "$PARLAYX_CONFIG"; fi

if ! command -v kamailio >/dev/null && [ ! -x /usr/sbin/kamailio ]; then
  echo "container-start.sh: this image has no Kamailio (built with DEMO_PRESENCE_SERVER=0):" \
    "set PARLAYX_CONFIG to a configuration that names your presence server" >&2
  exit 1
fi
mkdir -p var
config=var/container.start.yaml
bash scripts/demo-config.sh config/container.yaml "$config"

node scripts/presence-server.js --port 5060 --domain example.test --dir var/presence-server \
  --publish sip:alice@example.test=open --publish sip:bob@example.test=busy \
  --publish sip:carol@example.test=closed &
presence=$!
gateway=
# bash is the container's PID 1 here: it passes docker stop's SIGTERM (or Ctrl-C) on to the gateway.
trap 'if [ -n "$gateway" ]; then kill -TERM "$gateway" 2>/dev/null; else kill "$presence" 2>/dev/null; fi' TERM INT
trap 'kill "$presence" 2>/dev/null; wait "$presence" 2>/dev/null' EXIT
node js/cli.js serve --config "$config" &
gateway=$!
status=0
wait "$gateway" || status=$?
# A trapped signal ends the first wait at once (status 143); the gateway is still draining. Once
# it is gone, wait once more for its own exit status (0 after a clean drain), not the signal's.
while kill -0 "$gateway" 2>/dev/null; do wait "$gateway" || status=$?; done
status=0
wait "$gateway" || status=$?
exit "$status"
