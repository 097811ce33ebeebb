#!/usr/bin/env bash
# Writes OUT: the configuration BASE (whose requesters section is "requesters: {}") plus one
# requester, "demo", whose random password is made on the first run and kept in
# var/demo-requester.password (the file is the secret; OUT holds only its scrypt hash), and prints
# the credentials. Used by scripts/start.sh (README "Run") and scripts/container-start.sh (the
# Docker image).
#   bash scripts/demo-config.sh BASE OUT      (paths relative to the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -ne 2 ]; then echo "usage: bash scripts/demo-config.sh BASE OUT" >&2; exit 2; fi
base=$1
out=$2
mkdir -p var
if [ ! -s var/demo-requester.password ]; then
  (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=\n' > var/demo-requester.password)
fi
hash=$(node js/cli.js hash-password --password-file var/demo-requester.password)
sed "s|^requesters: {}\$|requesters:\n  demo:\n    passwordHash: \"$hash\"|" "$base" > "$out"
grep -q '^  demo:' "$out" || { echo "demo-config.sh: could not add the demo requester to $out" >&2; exit 1; }
echo "requester: demo, password: $(cat var/demo-requester.password) (curl -u demo:<password> ...)"
