#!/usr/bin/env bash
# The one command that runs the gateway (README "Run"): installs what is missing, builds, starts a
# local Kamailio presence server on 127.0.0.1:5060 (seeded with three test users) and the gateway
# on the default config (config/gateway.yaml). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --with-presence-server
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
if [ ! -f build/Release/parlayx_gateway.node ]; then npm run build; fi

node scripts/presence-server.js --port 5060 --domain example.test --dir var/presence-server \
  --publish sip:alice@example.test=open --publish sip:bob@example.test=busy \
  --publish sip:carol@example.test=closed &
presence=$!
trap 'kill $presence 2>/dev/null; wait $presence 2>/dev/null' EXIT
exec_status=0
node js/cli.js serve --config "${PARLAYX_CONFIG:-config/gateway.yaml}" || exec_status=$?
exit $exec_status
