#!/usr/bin/env bash
# What requests in flight cost the daemon: one route, wrk at C connections, and the daemon's
# peak RSS (VmHWM), its CPU per request and the request rate, case after case so that the
# box's drift hits every case alike. Used for the README's "Memory at 500 connections".
#
#   bash bench/in-flight.sh ROUNDS CASE... where CASE is broker/mode@connections
#   bash bench/in-flight.sh 2 nats/pubsub@100 nats/pubsub@500 memory/pubsub@500
#
# Env: SECONDS_PER_RUN (8), DIST (dist: the build under test, e.g. another worktree's),
# NODE_FLAGS (the launcher's memory flags, as npm start), MALLOC_ENV (npm start's glibc malloc
# settings; empty for glibc's own defaults), EXTRA_ENV (e.g. "GATE=64").
# A request-reply case gets the bench's echo responder (dist/bench/consumer.js, npm run build:all).
# Needs wrk and the brokers the cases name (bash scripts/brokers.sh start).
set -euo pipefail
rounds=${1:?usage: bash bench/in-flight.sh ROUNDS broker/mode@connections...}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
dist=$(cd "${DIST:-$root/dist}" && pwd)
seconds=${SECONDS_PER_RUN:-8}
# npm start's defaults, read from the build under test (core/node-flags.ts), not copied here.
launcher() {
  node --input-type=module -e "import * as launch from '$dist/core/node-flags.js'; console.log($1);"
}
node_flags=${NODE_FLAGS:-$(launcher "launch.NODE_MEMORY_FLAGS.join(' ')")}
malloc_env=${MALLOC_ENV-$(launcher "Object.entries(launch.MALLOC_ENV ?? {}).map((setting) => setting.join('=')).join(' ')")}
port=18391
work=$(mktemp -d)
daemon=''
responder=''
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; fi
  if [ -n "$responder" ]; then kill "$responder" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/body.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"data":"' .. string.rep("x", 244) .. '"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Source"] = "in-flight"
LUA

broker_options() {
  case $1 in
    memory) echo '{"plugin": "memory", "options": {}}' ;;
    nats) echo '{"plugin": "nats", "options": {"url": "nats://127.0.0.1:4222"}}' ;;
    kafka) echo '{"plugin": "kafka", "options": {"brokers": ["127.0.0.1:9092"], "createTopics": true}}' ;;
    rabbitmq) echo '{"plugin": "rabbitmq", "options": {"url": "amqp://guest:guest@127.0.0.1:5672", "declare": true}}' ;;
    *) echo "unknown broker $1" >&2; exit 2 ;;
  esac
}

# The far side of a request-reply case: the bench's echo responder, in a process of its own.
start_responder() {
  local broker=$1 destination=$2
  local endpoints='{"natsUrl": "nats://127.0.0.1:4222", "amqpUrl": "amqp://guest:guest@127.0.0.1:5672", "kafkaBrokers": "127.0.0.1:9092"}'
  node "$dist/bench/consumer.js" "{\"broker\": \"$broker\", \"cases\": [{\"mode\": \"request-reply\", \"destination\": \"$destination\"}],
    \"endpoints\": $endpoints, \"natsStreamPrefix\": \"INFLIGHTBENCH\", \"kafkaTopics\": [\"$destination\", \"bench.consumer-replies\"]}" > "$work/responder.log" 2>&1 &
  responder=$!
  for _ in $(seq 1 360); do
    if grep -q READY "$work/responder.log"; then return; fi
    sleep 0.25
  done
  echo "responder not ready:" >&2
  cat "$work/responder.log" >&2
  exit 1
}

one_run() {
  local broker=$1 mode=$2 connections=$3
  if [ "$mode" = request-reply ]; then start_responder "$broker" "in-flight-$broker"; fi
  cat > "$work/routes.yaml" <<YAML
routes:
  - name: in-flight
    path: /in-flight
    broker: $broker
    mode: $mode
    destination: "in-flight-$broker"
    headers: [x-source]
YAML
  cat > "$work/busgate.json" <<JSON
{"port": $port, "host": "127.0.0.1", "routesFile": "$work/routes.yaml", "logLevel": "warn", "logFormat": "json",
 "brokers": {"$broker": $(broker_options "$broker")}}
JSON
  # shellcheck disable=SC2086 # the flags, MALLOC_ENV and EXTRA_ENV are word lists
  env -i PATH="$PATH" HOME="$HOME" LOG_LEVEL=warn NODE_ENV=production WORKERS=1 $malloc_env ${EXTRA_ENV:-} \
    node $node_flags "$dist/core/cli.js" start --config "$work/busgate.json" > "$work/daemon.log" 2>&1 &
  daemon=$!
  local ready=''
  for _ in $(seq 1 80); do
    if curl -sf "http://127.0.0.1:$port/ready" > /dev/null; then ready=yes; break; fi
    sleep 0.25
  done
  if [ -z "$ready" ]; then echo "daemon not ready:" >&2; cat "$work/daemon.log" >&2; exit 1; fi
  wrk -t1 -c50 -d3s -s "$work/body.lua" "http://127.0.0.1:$port/in-flight" > /dev/null
  local cpu_before requests_before
  cpu_before=$(awk '{print $14 + $15}' "/proc/$daemon/stat")
  local rate
  rate=$(wrk -t1 -c"$connections" -d"${seconds}s" -s "$work/body.lua" "http://127.0.0.1:$port/in-flight" |
    awk '/Requests\/sec/ {print int($2)} /Non-2xx/ {print "non-2xx: " $5 > "/dev/stderr"}')
  local cpu_after hwm
  cpu_after=$(awk '{print $14 + $15}' "/proc/$daemon/stat")
  hwm=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$daemon/status")
  kill "$daemon"
  wait "$daemon" 2> /dev/null || true
  daemon=''
  if [ -n "$responder" ]; then
    kill "$responder"
    wait "$responder" 2> /dev/null || true
    responder=''
  fi
  local ticks_per_s
  ticks_per_s=$(getconf CLK_TCK)
  # CPU per request over the measured run only (the warm-up is left out).
  awk -v c="$broker/$mode@$connections" -v r="$rate" -v h="$hwm" -v t0="$cpu_before" -v t1="$cpu_after" -v hz="$ticks_per_s" -v s="$seconds" \
    'BEGIN { printf "%-24s %7d req/s  VmHWM %4d MB  %4d µs CPU/request\n", c, r, h, (t1 - t0) / hz * 1e6 / (r * s) }'
}

for round in $(seq 1 "$rounds"); do
  echo "round $round (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  for spec in "$@"; do
    target=${spec%@*}
    one_run "${target%/*}" "${target#*/}" "${spec#*@}"
  done
done
