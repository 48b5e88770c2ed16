# syntax=docker/dockerfile:1
# busgate: HTTP -> NATS / Kafka / RabbitMQ gateway.
#   docker build -t busgate .
#   docker run --rm -p 8080:8080 busgate            (embedded memory broker, ./routes.yaml)
# docker-compose.yml runs it next to real brokers, Prometheus and Grafana.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------- build
FROM ${NODE_IMAGE} AS builder
WORKDIR /src
# Dependencies first so that a source change does not reinstall them.
COPY package.json package-lock.json ./
# The workspace packages' manifests too: npm ci links them (packages/plugin-mqtt).
COPY packages/plugin-mqtt/package.json ./packages/plugin-mqtt/
RUN npm ci --no-audit --no-fund
COPY . .
# The MQTT workspace reaches `busgate` through a link that npm made for its devDependency
# ("file:../..") and prune removes; a plugin installed from npm finds the real package instead.
# tsconfig.build.json: core/, plugins/ and conformance/ only, so the image ships no test code.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && ln -sfn .. node_modules/busgate

# -------------------------------------------------------------------------------------- runtime
FROM ${NODE_IMAGE} AS runtime
# MALLOC_*: the glibc malloc settings every launcher gives (core/node-flags.ts, MALLOC_ENV).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    MALLOC_TRIM_THRESHOLD_=131072 \
    PORT=8080 \
    HOST=0.0.0.0 \
    LOG_FORMAT=json
WORKDIR /app
# The node image ships an unprivileged "node" user (uid 1000); the files stay root-owned and
# read-only for it.
COPY --from=builder /src/package.json ./package.json
COPY --from=builder /src/node_modules ./node_modules
COPY --from=builder /src/dist ./dist
# The MQTT plugin ships too (`plugin: busgate-plugin-mqtt`); node_modules links to it.
COPY --from=builder /src/packages/plugin-mqtt/package.json ./packages/plugin-mqtt/package.json
COPY --from=builder /src/packages/plugin-mqtt/dist ./packages/plugin-mqtt/dist
COPY --from=builder /src/config ./config
COPY --from=builder /src/routes.yaml ./routes.yaml
USER node
EXPOSE 8080
# No curl in the slim image: node itself asks /health (liveness; /ready reports the brokers).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM reaches node directly (exec form), which drains in-flight requests before exiting.
# The two V8 flags keep RSS under 100 MB at 500 connections for the CPU of V8's defaults (README,
# Performance: memory); they can only be given on node's command line.
CMD ["node", "--max-semi-space-size=2", "--heap-growing-percent=10", "dist/core/cli.js", "start"]
