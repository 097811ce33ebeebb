# parlayx-gateway on Debian 12 (bookworm) slim, run as a non-root user.
#
#   docker build -t parlayx-gateway .
#   docker run --rm --stop-timeout 15 -p 8080:8080 -p 9464:9464 -v parlayx-var:/app/var parlayx-gateway
#
# The default command is the README "Run" logic (scripts/container-start.sh): a demo Kamailio
# presence server inside the container and the gateway on config/container.yaml (SOAP on :8080,
# admin /metrics /healthz /readyz on :9464, both on 0.0.0.0) with the "demo" requester. With
# -e PARLAYX_CONFIG=/etc/parlayx/gateway.yaml (mounted) it runs the gateway alone on that
# configuration. The README "Test" logic is the `test` stage:
#   docker build --target test -t parlayx-gateway:test-suite . && docker run --rm parlayx-gateway:test-suite
#
# Build arguments: NODE_MAJOR (default 20), DEMO_PRESENCE_SERVER (1: the image carries Kamailio
# for the demo; 0: a smaller image that needs PARLAYX_CONFIG).

ARG NODE_MAJOR=20

# Node.js: package.json wants >= 20.17, Debian 12's nodejs is 18. The official Node image of the
# same Debian release has it built for this glibc; only its files are taken (node, npm, headers).
FROM node:${NODE_MAJOR}-bookworm-slim AS node

# ---------------------------------------------------------------------------------------------
# Build: the toolchain and -dev libraries (scripts/install-deps.sh, its default set), the
# production npm packages, the addon (npm ci runs the package's install script, which builds it
# with node-gyp against the copied Node headers).
FROM debian:bookworm-slim AS build
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/include/node /usr/local/include/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
WORKDIR /app
COPY scripts/install-deps.sh scripts/
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json binding.gyp ./
COPY scripts/build-addon.js scripts/
COPY native/ native/
RUN npm ci --omit=dev --no-audit --no-fund \
 && test -f build/Release/parlayx_gateway.node \
 && rm -rf build/Release/obj.target build/Release/.deps

# ---------------------------------------------------------------------------------------------
# Test: the README "Test" command (scripts/test.sh) with everything it installs already in the
# image (Kamailio, SIPp, GoogleTest, clang/libFuzzer); runs as root, like the CI machine.
FROM build AS test
RUN bash scripts/install-deps.sh --with-test-tools && rm -rf /var/lib/apt/lists/*
COPY . .
RUN npm ci --no-audit --no-fund
CMD ["bash", "scripts/test.sh"]

# ---------------------------------------------------------------------------------------------
# Runtime (the default target): the shared libraries only (install-deps.sh --runtime), Node.js,
# the built addon and the production node_modules, a non-root user.
FROM debian:bookworm-slim AS runtime
ARG DEMO_PRESENCE_SERVER=1
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY scripts/install-deps.sh scripts/
RUN if [ "$DEMO_PRESENCE_SERVER" = 1 ]; then bash scripts/install-deps.sh --runtime --with-presence-server; \
    else bash scripts/install-deps.sh --runtime; fi \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 parlayx \
 && useradd --system --uid 10001 --gid parlayx --home-dir /app --no-create-home --shell /usr/sbin/nologin parlayx
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/build/Release/parlayx_gateway.node build/Release/parlayx_gateway.node
COPY package.json index.js index.d.ts ./
COPY js/ js/
COPY handlers/ handlers/
COPY wsdl/ wsdl/
COPY openapi/ openapi/
COPY config/ config/
COPY scripts/ scripts/
# The only writable place: usage and notification stores, the demo password and configuration,
# the demo presence server's files. The code stays root-owned and read-only to the service.
RUN mkdir -p var && chown parlayx:parlayx var
VOLUME ["/app/var"]
USER parlayx:parlayx
ENV NODE_ENV=production
# SOAP (http.port) and admin (admin.port) of config/container.yaml.
EXPOSE 8080 9464
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "require('node:http').get('http://127.0.0.1:9464/healthz',(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
CMD ["bash", "scripts/container-start.sh"]
