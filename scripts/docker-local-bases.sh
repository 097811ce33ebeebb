#!/usr/bin/env bash
# Makes the two base images of the Dockerfile locally, for a builder that reaches the Debian mirror
# and the npm registry but not Docker Hub (run as root on Debian 12, with a Node.js 20 package
# installed: /usr/bin/node, /usr/include/node, /usr/lib/node_modules/npm):
#   debian:bookworm-slim    a Debian 12 minbase rootfs (debootstrap), imported
#   node:20-bookworm-slim   that image plus this machine's Node.js 20, where the official node
#                           image has it (/usr/local/bin/node, /usr/local/include/node,
#                           /usr/local/lib/node_modules/npm, npm and npx links)
# then `docker build -t parlayx-gateway .` as usual.
#
#   bash scripts/docker-local-bases.sh [--extra-ca FILE.pem]
#
# --extra-ca: a TLS-intercepting egress proxy's CA (PEM), put in the base image and named by
# NODE_EXTRA_CA_CERTS so that `npm ci` in the build trusts it (the ENV is inherited by the images
# built on it). Env: MIRROR (default http://deb.debian.org/debian), WORKDIR (default a temp dir).
set -euo pipefail

extra_ca=
if [ "${1:-}" = "--extra-ca" ]; then extra_ca=$2; shift 2; fi
if [ "$#" -ne 0 ]; then echo "usage: bash scripts/docker-local-bases.sh [--extra-ca FILE.pem]" >&2; exit 2; fi
if [ "$(id -u)" -ne 0 ]; then echo "docker-local-bases.sh: run as root (debootstrap)" >&2; exit 1; fi
mirror=${MIRROR:-http://deb.debian.org/debian}
work=${WORKDIR:-$(mktemp -d /tmp/docker-local-bases.XXXXXX)}
node_major=$(/usr/bin/node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != 20 ]; then echo "docker-local-bases.sh: /usr/bin/node is not Node.js 20" >&2; exit 1; fi
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap

rootfs=$work/rootfs
if [ ! -x "$rootfs/bin/bash" ]; then debootstrap --variant=minbase bookworm "$rootfs" "$mirror"; fi
# As the official image: no package lists or downloaded .debs; bookworm, -updates and -security.
rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
mkdir -p "$rootfs/var/lib/apt/lists/partial"
rm -f "$rootfs/etc/apt/sources.list"
cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
: > "$rootfs/etc/resolv.conf"
echo localhost > "$rootfs/etc/hostname"
changes=(-c 'CMD ["bash"]')
if [ -n "$extra_ca" ]; then
  mkdir -p "$rootfs/usr/local/share/ca-certificates"
  cp "$extra_ca" "$rootfs/usr/local/share/ca-certificates/build-egress-ca.crt"
  changes+=(-c 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/build-egress-ca.crt')
fi
tar -C "$rootfs" -c . | docker import "${changes[@]}" - debian:bookworm-slim

ctx=$work/node-context
rm -rf "$ctx" && mkdir -p "$ctx/bin" "$ctx/include" "$ctx/lib"
cp -a /usr/bin/node "$ctx/bin/node"
cp -a /usr/include/node "$ctx/include/node"
cp -a /usr/lib/node_modules/npm "$ctx/lib/npm"
cat > "$ctx/Dockerfile" <<EOF
FROM debian:bookworm-slim
COPY bin/node /usr/local/bin/node
COPY include/node /usr/local/include/node
COPY lib/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_VERSION=$(/usr/bin/node -p process.versions.node)
CMD ["node"]
EOF
DOCKER_BUILDKIT=0 docker build -q -t node:20-bookworm-slim "$ctx"
echo "node $(docker run --rm node:20-bookworm-slim node -v), npm $(docker run --rm node:20-bookworm-slim npm -v)"
echo "made debian:bookworm-slim and node:20-bookworm-slim (work files in $work)"
