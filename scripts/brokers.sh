#!/usr/bin/env bash
# Local brokers for development, tests and CI.
#
#   bash scripts/brokers.sh start|check|stop [nats|rabbitmq|kafka|mqtt|redis ...]    (no names: all five)
#
# start  Idempotent: a broker that already answers on its port is left alone; otherwise it is
#        started and waited for. NATS, RabbitMQ and Mosquitto (MQTT, for the packages/plugin-mqtt
#        plugin) come from Debian's packages; Kafka is not
#        packaged, so its broker jars are fetched once from Maven Central (scripts/kafka/pom.xml)
#        into .brokers/kafka/ and run as a single KRaft node. Redis (the shared state store of the
#        replica suites) runs in memory only: no snapshot, no append-only file.
# check  Exits non-zero naming every broker that does not answer.
# stop   Stops only what this script started (it keeps pid files under .brokers/).
#
#   bash scripts/brokers.sh cluster start|stop|status [nats|rabbitmq|kafka ...]
#
# cluster  Three-node clusters on this one machine, on free ports in temporary folders, for
#          failover work by hand (the fault suites start their own): NATS with JetStream, RabbitMQ
#          (classic_config peer discovery, one Erlang cookie; quorum queues span the 3 nodes), KRaft
#          Kafka (replication factor 3, min.insync.replicas 2, -Xmx256m per broker). Built by the
#          fault harness's launchers (test/faults/support/private-clusters.ts), so `npm run build:all`
#          first, and Kafka's jars from `start kafka`. Prints the NATS_URL / AMQP_URL /
#          KAFKA_BROKERS to use; state in .brokers/cluster-<kind>.json. Start one at a time.
#
# One status line per broker. Environment: BROKERS_WAIT_SECONDS (default 90) bounds each wait.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${1:-}" = cluster ]; then
  shift
  cli="$ROOT/dist/test/faults/support/cluster-cli.js"
  [ -f "$cli" ] || { echo "cluster: $cli is missing; run npm run build:all first" >&2; exit 1; }
  exec node "$cli" "$@"
fi
STATE="$ROOT/.brokers"
WAIT_SECONDS=${BROKERS_WAIT_SECONDS:-90}

NATS_PORT=4222
RABBITMQ_PORT=5672
KAFKA_PORT=9092
MQTT_PORT=1883
MOSQUITTO_CONF=${MOSQUITTO_CONF:-/etc/mosquitto/mosquitto.conf}
REDIS_PORT=6379
KAFKA_CONTROLLER_PORT=9093
KAFKA_DIR="$STATE/kafka"
KAFKA_JARS="$KAFKA_DIR/jars"
KAFKA_POM="$ROOT/scripts/kafka/pom.xml"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_LOG="$KAFKA_DIR/kafka.log"
NATS_PID="$STATE/nats-server.pid"
RABBITMQ_MARK="$STATE/rabbitmq.started-by-script"
MOSQUITTO_PID="$STATE/mosquitto.pid"
REDIS_PID="$STATE/redis-server.pid"

say() { printf '%-9s %s\n' "$1:" "$2"; }

answers() { # host port: whether something accepts TCP connections there
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

runs() { # pid text: the process lives and its command line has the text (a zombie's is empty)
  local cmdline
  [ -n "$1" ] && cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) && [[ "$cmdline" == *"$2"* ]]
}

wait_for_port() { # port pid pattern: waits until the port answers; fails early if the process ends
  local deadline=$((SECONDS + WAIT_SECONDS))
  while ! answers 127.0.0.1 "$1"; do
    if [ -n "$2" ] && ! runs "$2" "$3"; then return 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.5
  done
}

pid_alive() { # pid-file pattern
  [ -f "$1" ] && runs "$(cat "$1")" "$2"
}

# ---------------------------------------------------------------------------------------- NATS
start_nats() {
  if answers 127.0.0.1 $NATS_PORT; then say nats "running on 127.0.0.1:$NATS_PORT"; return 0; fi
  if [ ! -x /usr/sbin/nats-server ]; then
    say nats "FAILED: /usr/sbin/nats-server is missing (apt-get install nats-server)"; return 1
  fi
  mkdir -p /var/lib/nats-server "$STATE"
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$NATS_PID" \
    --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p $NATS_PORT -js -sd /var/lib/nats-server \
    -l /var/log/nats-server.log
  if wait_for_port $NATS_PORT "$(cat "$NATS_PID" 2>/dev/null)" nats-server; then
    say nats "started on 127.0.0.1:$NATS_PORT (JetStream, log /var/log/nats-server.log)"
  else
    say nats "FAILED to start; see /var/log/nats-server.log"; return 1
  fi
}

stop_nats() {
  if pid_alive "$NATS_PID" nats-server; then
    start-stop-daemon --stop --oknodo --pidfile "$NATS_PID" --retry TERM/10/KILL/5 >/dev/null
    rm -f "$NATS_PID"; say nats "stopped"
  else
    rm -f "$NATS_PID"; say nats "not started by this script; left alone"
  fi
}

# ------------------------------------------------------------------------------------ RabbitMQ
start_rabbitmq() {
  if answers 127.0.0.1 $RABBITMQ_PORT; then say rabbitmq "running on 127.0.0.1:$RABBITMQ_PORT"; return 0; fi
  if ! command -v rabbitmq-server >/dev/null; then
    say rabbitmq "FAILED: rabbitmq-server is missing (apt-get install rabbitmq-server)"; return 1
  fi
  mkdir -p "$STATE"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  touch "$RABBITMQ_MARK"
  # await_startup needs the node to exist first; the port wait covers the remaining start-up.
  timeout "$WAIT_SECONDS" rabbitmqctl await_startup >/dev/null 2>&1 || true
  if wait_for_port $RABBITMQ_PORT "" ""; then
    say rabbitmq "started on 127.0.0.1:$RABBITMQ_PORT"
  else
    say rabbitmq "FAILED to start; see /var/log/rabbitmq/"; return 1
  fi
}

stop_rabbitmq() {
  if [ -f "$RABBITMQ_MARK" ]; then
    rabbitmqctl stop >/dev/null 2>&1 || true
    rm -f "$RABBITMQ_MARK"; say rabbitmq "stopped"
  else
    say rabbitmq "not started by this script; left alone"
  fi
}

# --------------------------------------------------------------------------------------- Kafka
kafka_fetch_jars() {
  # The stamp ties the jar folder to the pom that produced it, so a version bump refetches.
  local stamp; stamp=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
  if [ -f "$KAFKA_JARS/.stamp" ] && [ "$(cat "$KAFKA_JARS/.stamp")" = "$stamp" ]; then return 0; fi
  command -v mvn >/dev/null || { say kafka "FAILED: mvn is missing (apt-get install maven)"; return 1; }
  command -v java >/dev/null || { say kafka "FAILED: java is missing (apt-get install default-jre-headless)"; return 1; }
  rm -rf "$KAFKA_JARS"; mkdir -p "$KAFKA_DIR"
  # mvn resolves from ~/.m2 first, so a warm local repository makes this an offline copy.
  if ! mvn -B -q -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KAFKA_JARS" >"$KAFKA_DIR/mvn.log" 2>&1; then
    say kafka "FAILED to fetch broker jars with mvn; see $KAFKA_DIR/mvn.log"; return 1
  fi
  echo "$stamp" >"$KAFKA_JARS/.stamp"
}

kafka_write_config() {
  mkdir -p "$KAFKA_DIR/data"
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Written by scripts/brokers.sh on every start: a single KRaft node for development and tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
# Dev and tests only: production clusters should create topics deliberately.
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
# After a kill -9 the restarted broker waits out its old registration: keep that short.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=1000
# Tests create many short-lived topics; keep a day of data.
log.retention.hours=24
EOF
}

KAFKA_JAVA=(java -Xmx512m -Xms128m -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$ROOT/scripts/kafka/log4j.properties" -cp "$KAFKA_JARS/*")

kafka_ready() { # a metadata round trip with the repo's kafkajs; before npm install, the broker's word
  if [ ! -d "$ROOT/node_modules/kafkajs" ]; then grep -q 'Kafka Server started' "$KAFKA_LOG"; return; fi
  (cd "$ROOT" && timeout 15 node -e '
    const { Kafka, logLevel } = require("kafkajs");
    const admin = new Kafka({ brokers: ["127.0.0.1:'"$KAFKA_PORT"'"], logLevel: logLevel.NOTHING,
      retry: { retries: 2, initialRetryTime: 200 } }).admin();
    admin.connect().then(() => admin.listTopics()).then(() => admin.disconnect())
      .then(() => process.exit(0), () => process.exit(1));
  ' >/dev/null 2>&1)
}

start_kafka() {
  local started=$SECONDS note=""
  # The jars are needed even when a Kafka already answers: the fault suites start private
  # brokers from them. A warm ~/.m2 makes this an offline copy of a few seconds.
  kafka_fetch_jars || return 1
  if answers 127.0.0.1 $KAFKA_PORT && ! pid_alive "$KAFKA_PID" kafka.Kafka; then
    say kafka "running on 127.0.0.1:$KAFKA_PORT"; return 0
  fi
  if pid_alive "$KAFKA_PID" kafka.Kafka; then
    note="pid $(cat "$KAFKA_PID") from an earlier start; "
  else
    rm -f "$KAFKA_PID"
    kafka_fetch_jars || return 1
    kafka_write_config
    if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
      local cluster_id; cluster_id=$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
      if ! "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
          >"$KAFKA_DIR/format.log" 2>&1; then
        say kafka "FAILED to format storage; see $KAFKA_DIR/format.log"; return 1
      fi
    fi
    if [ -f "$KAFKA_LOG" ]; then mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"; fi
    # setsid: the broker outlives this script and the caller's process group (CI steps, mocha).
    setsid "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" >"$KAFKA_LOG" 2>&1 </dev/null &
    echo $! >"$KAFKA_PID"
  fi
  local pid; pid=$(cat "$KAFKA_PID")
  if ! wait_for_port $KAFKA_PORT "$pid" kafka.Kafka; then
    say kafka "FAILED to start; see $KAFKA_LOG"; return 1
  fi
  local deadline=$((SECONDS + WAIT_SECONDS))
  until kafka_ready; do
    if [ "$SECONDS" -ge "$deadline" ] || ! runs "$pid" kafka.Kafka; then
      say kafka "FAILED: port $KAFKA_PORT answers but metadata requests do not; see $KAFKA_LOG"; return 1
    fi
    sleep 0.5
  done
  local version; version=$(ls "$KAFKA_JARS" | sed -n 's/^kafka_2\.13-\(.*\)\.jar$/\1/p')
  local what="started on 127.0.0.1:$KAFKA_PORT in $((SECONDS - started))s"
  [ -n "$note" ] && what="running on 127.0.0.1:$KAFKA_PORT"
  say kafka "$what (${note}Apache Kafka $version, KRaft, log $KAFKA_LOG)"
}

stop_kafka() {
  if ! pid_alive "$KAFKA_PID" kafka.Kafka; then
    rm -f "$KAFKA_PID"; say kafka "not started by this script; left alone"; return 0
  fi
  local pid; pid=$(cat "$KAFKA_PID")
  kill -TERM "$pid"
  for _ in $(seq 1 60); do runs "$pid" kafka.Kafka || break; sleep 0.5; done
  if runs "$pid" kafka.Kafka; then kill -KILL "$pid"; fi
  rm -f "$KAFKA_PID"; say kafka "stopped"
}

# ------------------------------------------------------------------------------- MQTT (Mosquitto)
mosquitto_version() { # e.g. 2.0.11; the first line of `mosquitto -h` names it
  mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version \([0-9][0-9.]*\).*/\1/p' | head -n 1
}

start_mqtt() {
  if answers 127.0.0.1 $MQTT_PORT; then say mqtt "running on 127.0.0.1:$MQTT_PORT"; return 0; fi
  if ! command -v mosquitto >/dev/null; then
    say mqtt "FAILED: mosquitto is missing (apt-get install mosquitto)"; return 1
  fi
  # MQTT 5 (shared subscriptions, response topics, reason codes) arrived in Mosquitto 1.6.
  local version; version=$(mosquitto_version)
  if [ -z "$version" ] || [ "$(printf '%s\n1.6\n' "$version" | sort -V | head -n 1)" != "1.6" ]; then
    say mqtt "FAILED: mosquitto ${version:-of unknown version} does not speak MQTT 5 (1.6 or later needed)"; return 1
  fi
  # The Debian config writes its pid and log under /run and /var/log, which may not exist yet.
  mkdir -p "$STATE" /run/mosquitto /var/log/mosquitto /var/lib/mosquitto
  if id mosquitto >/dev/null 2>&1; then chown mosquitto /run/mosquitto /var/log/mosquitto /var/lib/mosquitto 2>/dev/null || true; fi
  mosquitto -d -c "$MOSQUITTO_CONF"
  if wait_for_port $MQTT_PORT "" ""; then
    # Remember the daemon's pid (from the pid_file its config names) so that stop ends only it.
    local pid_file; pid_file=$(sed -n 's/^pid_file[[:space:]]\+//p' "$MOSQUITTO_CONF" | head -n 1)
    if [ -n "$pid_file" ] && [ -f "$pid_file" ]; then cp "$pid_file" "$MOSQUITTO_PID"; fi
    say mqtt "started on 127.0.0.1:$MQTT_PORT (Mosquitto $version, MQTT 5, config $MOSQUITTO_CONF)"
  else
    say mqtt "FAILED to start; see /var/log/mosquitto/mosquitto.log"; return 1
  fi
}

stop_mqtt() {
  if pid_alive "$MOSQUITTO_PID" mosquitto; then
    kill -TERM "$(cat "$MOSQUITTO_PID")"; rm -f "$MOSQUITTO_PID"; say mqtt "stopped"
  else
    rm -f "$MOSQUITTO_PID"; say mqtt "not started by this script; left alone"
  fi
}

# --------------------------------------------------------------------------------------- Redis
start_redis() {
  if answers 127.0.0.1 $REDIS_PORT; then say redis "running on 127.0.0.1:$REDIS_PORT"; return 0; fi
  if ! command -v redis-server >/dev/null; then
    say redis "FAILED: redis-server is missing (apt-get install redis-server)"; return 1
  fi
  mkdir -p "$STATE"
  redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --save "" --appendonly no \
    --pidfile "$REDIS_PID" --logfile "$STATE/redis.log" >/dev/null
  if wait_for_port $REDIS_PORT "" ""; then
    say redis "started on 127.0.0.1:$REDIS_PORT (in memory only, log $STATE/redis.log)"
  else
    say redis "FAILED to start; see $STATE/redis.log"; return 1
  fi
}

stop_redis() {
  if pid_alive "$REDIS_PID" redis-server; then
    kill -TERM "$(cat "$REDIS_PID")"; rm -f "$REDIS_PID"; say redis "stopped"
  else
    rm -f "$REDIS_PID"; say redis "not started by this script; left alone"
  fi
}

# ---------------------------------------------------------------------------------------- main
check_one() {
  local port
  case "$1" in nats) port=$NATS_PORT ;; rabbitmq) port=$RABBITMQ_PORT ;; kafka) port=$KAFKA_PORT ;; mqtt) port=$MQTT_PORT ;; redis) port=$REDIS_PORT ;; esac
  if answers 127.0.0.1 "$port"; then say "$1" "ok on 127.0.0.1:$port"; else say "$1" "MISSING: nothing answers on 127.0.0.1:$port"; return 1; fi
}

usage() {
  echo "usage: bash scripts/brokers.sh start|check|stop [nats|rabbitmq|kafka|mqtt|redis ...]" >&2
  echo "       bash scripts/brokers.sh cluster start|stop|status [nats|rabbitmq|kafka ...]" >&2
  exit 2
}

[ $# -ge 1 ] || usage
action=$1; shift
names=("$@"); [ ${#names[@]} -gt 0 ] || names=(nats rabbitmq kafka mqtt redis)
for name in "${names[@]}"; do
  case "$name" in nats | rabbitmq | kafka | mqtt | redis) ;; *) echo "unknown broker: $name" >&2; usage ;; esac
done

failed=()
for name in "${names[@]}"; do
  case "$action" in
    start) "start_$name" || failed+=("$name") ;;
    stop) "stop_$name" || failed+=("$name") ;;
    check) check_one "$name" || failed+=("$name") ;;
    *) usage ;;
  esac
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "brokers not available: ${failed[*]}" >&2
  exit 1
fi
