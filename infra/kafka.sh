#!/usr/bin/env bash
# infra/kafka.sh - a REAL single-node Apache Kafka broker (KRaft, combined broker+controller) from jars
# resolved with Maven from Maven Central. No Docker.
#
#   infra/kafka.sh fetch    resolve the broker jars into the cache (needs Maven Central once)
#   infra/kafka.sh start    fetch if needed, format storage once, start, wait until ready (idempotent);
#                           last stdout line: KAFKA_BROKERS=127.0.0.1:19092
#   infra/kafka.sh stop     stop the broker (SIGTERM, then SIGKILL after 20 s); data is kept
#   infra/kafka.sh reset    stop and delete the broker's data
#   infra/kafka.sh status   exit 0 when the broker started by this script is alive
#
# Env: KAFKA_VERSION (3.9.2) KAFKA_CACHE_DIR (~/.cache/kafka-maven) KAFKA_RUN_DIR (<repo>/.kafka-run)
#      KAFKA_BROKER_PORT (19092) KAFKA_CONTROLLER_PORT (19093) KAFKA_HEAP_OPTS (-Xms64m -Xmx384m)
#      KAFKA_START_TIMEOUT_S (120) KAFKA_LOG_LEVEL (WARN)
#      Ports stay below Linux's ephemeral range (32768-60999): any client socket may hold one of those.
#
# Cluster mode: three combined broker+controller nodes (KRaft quorum of 3) from the same jars, with their
# own run dir and ports, replication factor 3 and min.insync.replicas=2 by default. Independent of the
# single broker above (both can run at once).
#   infra/kafka.sh cluster-start        format once, start every node that is not running (so it also
#                                       restarts a killed node), wait until each is ready;
#                                       last stdout line: KAFKA_BROKERS=127.0.0.1:27092,127.0.0.1:27093,…
#   infra/kafka.sh cluster-stop         stop every node (SIGTERM, then SIGKILL after 20 s); data is kept
#   infra/kafka.sh cluster-reset        stop and delete the cluster's data
#   infra/kafka.sh cluster-status       one line per node (id, pid, broker address, up/down); exit 0 when
#                                       all three are alive
#   infra/kafka.sh cluster-kill N       SIGKILL node N (1-3), for fault drills; cluster-start brings it back
#
# Cluster env: KAFKA_CLUSTER_RUN_DIR (<repo>/.kafka-run-cluster) KAFKA_CLUSTER_BASE_PORT (27092: brokers on
#      base..base+2, controllers on base+3..base+5) KAFKA_CLUSTER_HEAP_OPTS (-Xms32m -Xmx256m, per node)
#      KAFKA_CLUSTER_PARTITIONS (4); KAFKA_VERSION, KAFKA_CACHE_DIR, KAFKA_START_TIMEOUT_S and
#      KAFKA_LOG_LEVEL as above.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
CACHE="${KAFKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-maven}/$KAFKA_VERSION"
LIBS="$CACHE/libs"
RUN_DIR="${KAFKA_RUN_DIR:-$REPO_ROOT/.kafka-run}"
BROKER_PORT="${KAFKA_BROKER_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms64m -Xmx384m}"
TIMEOUT_S="${KAFKA_START_TIMEOUT_S:-120}"
LOG_LEVEL="${KAFKA_LOG_LEVEL:-WARN}"
PID_FILE="$RUN_DIR/kafka.pid"
OUT_FILE="$RUN_DIR/kafka.out"
CLUSTER_DIR="${KAFKA_CLUSTER_RUN_DIR:-$REPO_ROOT/.kafka-run-cluster}"
CLUSTER_BASE_PORT="${KAFKA_CLUSTER_BASE_PORT:-27092}"
CLUSTER_HEAP_OPTS="${KAFKA_CLUSTER_HEAP_OPTS:--Xms32m -Xmx256m}"
CLUSTER_PARTITIONS="${KAFKA_CLUSTER_PARTITIONS:-4}"
CLUSTER_NODES="1 2 3"

case "$KAFKA_VERSION" in
  3.*) LOGGING=reload4j ;;
  4.0.*|4.1.*) LOGGING=log4j2; LOG4J2_VERSION=2.24.3 ;;
  4.*) LOGGING=log4j2; LOG4J2_VERSION=2.25.3 ;;
  *) echo "kafka: unsupported KAFKA_VERSION=$KAFKA_VERSION" >&2; exit 2 ;;
esac

log() { echo "kafka: $*" >&2; }

write_pom() {
  local logging_deps
  if [ "$LOGGING" = reload4j ]; then
    logging_deps='
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>'
  else
    logging_deps="
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J2_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J2_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>$LOG4J2_VERSION</version></dependency>"
  fi
  cat > "$CACHE/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.infra</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>ch.qos.logback</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>org.slf4j</groupId><artifactId>slf4j-log4j12</artifactId></exclusion>
        <exclusion><groupId>log4j</groupId><artifactId>log4j</artifactId></exclusion>
      </exclusions>
    </dependency>
    <!-- pinned so that a 2.x slf4j-api can never win over the 1.x binding -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>1.7.36</version></dependency>$logging_deps
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId>
    <artifactId>maven-dependency-plugin</artifactId>
    <version>3.8.1</version>
  </plugin></plugins></build>
</project>
EOF
}

fetch() {
  [ -f "$LIBS/.complete" ] && return 0
  command -v mvn >/dev/null 2>&1 || { log "mvn not found (apt-get install maven)"; exit 1; }
  command -v java >/dev/null 2>&1 || { log "java not found (Java 17 needed)"; exit 1; }
  mkdir -p "$CACHE"
  rm -rf "$LIBS"
  write_pom
  log "resolving Kafka $KAFKA_VERSION from Maven Central into $LIBS"
  mvn -B -ntp -q -f "$CACHE/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime -Dmdep.prependGroupId=true >&2
  [ -f "$LIBS/org.apache.kafka.kafka_2.13-$KAFKA_VERSION.jar" ] || { log "kafka_2.13 jar missing in $LIBS"; exit 1; }
  touch "$LIBS/.complete"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

is_running() {
  [ -f "$PID_FILE" ] || return 1
  local pid; pid=$(cat "$PID_FILE")
  kill -0 "$pid" 2>/dev/null && grep -qa 'kafka\.Kafka' "/proc/$pid/cmdline" 2>/dev/null
}

cluster_id() { # Kafka's Uuid text form: 16 random bytes, base64url, no padding, not starting with '-'
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    case "$id" in -*) ;; *) echo "$id"; return 0 ;; esac
  done
}

write_configs() {
  mkdir -p "$RUN_DIR/data" "$RUN_DIR/logs"
  # Unlimited retention: replaying the topic rebuilds read models, so history must stay.
  cat > "$RUN_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$RUN_DIR/data
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
log.retention.ms=-1
log.retention.bytes=-1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
log.cleaner.dedupe.buffer.size=2097152
EOF
  if [ "$LOGGING" = log4j2 ]; then
    cat >> "$RUN_DIR/server.properties" <<EOF
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
  fi
  write_log_config "$RUN_DIR"
}

write_log_config() { # DIR
  if [ "$LOGGING" = log4j2 ]; then
    cat > "$1/log4j2.properties" <<EOF
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $LOG_LEVEL
rootLogger.appenderRef.stdout.ref = STDOUT
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
EOF
  else
    cat > "$1/log4j.properties" <<EOF
log4j.rootLogger=$LOG_LEVEL, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
  fi
}

log_opts() { # [DIR]
  local dir="${1:-$RUN_DIR}"
  if [ "$LOGGING" = log4j2 ]; then echo "-Dlog4j2.configurationFile=$dir/log4j2.properties"
  else echo "-Dlog4j.configuration=file:$dir/log4j.properties"; fi
}

start() {
  if is_running; then
    log "already running (pid $(cat "$PID_FILE"))"
    echo "KAFKA_BROKERS=127.0.0.1:$BROKER_PORT"; return 0
  fi
  for p in "$BROKER_PORT" "$CONTROLLER_PORT"; do
    if port_open "$p"; then log "port $p is already in use by another process"; exit 1; fi
  done
  fetch
  local common="-Djava.awt.headless=true -Dkafka.logs.dir=$RUN_DIR/logs $(log_opts)"
  if [ ! -f "$RUN_DIR/data/meta.properties" ]; then
    rm -rf "$RUN_DIR"
    write_configs
    # shellcheck disable=SC2086
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 $common -cp "$LIBS/*" \
      kafka.tools.StorageTool format -t "$(cluster_id)" -c "$RUN_DIR/server.properties" >&2
  fi
  : > "$OUT_FILE"
  # shellcheck disable=SC2086
  nohup java $HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError $common \
    -cp "$LIBS/*" kafka.Kafka "$RUN_DIR/server.properties" >"$OUT_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + TIMEOUT_S))
  until grep -q "Kafka Server started" "$OUT_FILE" 2>/dev/null && port_open "$BROKER_PORT"; do
    if ! is_running; then log "broker exited during startup:"; tail -n 60 "$OUT_FILE" >&2; exit 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "not ready after ${TIMEOUT_S}s:"; tail -n 60 "$OUT_FILE" >&2; stop; exit 1
    fi
    sleep 0.2
  done
  log "ready (pid $(cat "$PID_FILE"), log $OUT_FILE)"
  echo "KAFKA_BROKERS=127.0.0.1:$BROKER_PORT"
}

stop() {
  if is_running; then
    local pid; pid=$(cat "$PID_FILE")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
}

# ---- cluster mode --------------------------------------------------------------------------------------
node_dir() { echo "$CLUSTER_DIR/node-$1"; }
node_broker_port() { echo $((CLUSTER_BASE_PORT + $1 - 1)); }
node_controller_port() { echo $((CLUSTER_BASE_PORT + 2 + $1)); }
cluster_brokers() {
  local n list=""
  for n in $CLUSTER_NODES; do list="${list:+$list,}127.0.0.1:$(node_broker_port "$n")"; done
  echo "$list"
}

node_pid() { cat "$(node_dir "$1")/kafka.pid" 2>/dev/null; }

node_running() {
  local pid; pid=$(node_pid "$1") || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa 'kafka\.Kafka' "/proc/$pid/cmdline" 2>/dev/null
}

write_node_config() { # N
  local dir voters="" v
  dir=$(node_dir "$1")
  for v in $CLUSTER_NODES; do voters="${voters:+$voters,}$v@127.0.0.1:$(node_controller_port "$v")"; done
  mkdir -p "$dir/data" "$dir/logs"
  # acks=all writes survive the loss of any one node: 3 replicas, 2 of them must have each write, and a
  # replica that fell behind never becomes leader (no unclean election).
  cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$1
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(node_broker_port "$1"),CONTROLLER://127.0.0.1:$(node_controller_port "$1")
advertised.listeners=PLAINTEXT://127.0.0.1:$(node_broker_port "$1")
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=$CLUSTER_PARTITIONS
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
auto.create.topics.enable=false
log.retention.ms=-1
log.retention.bytes=-1
offsets.topic.replication.factor=3
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
log.cleaner.dedupe.buffer.size=2097152
EOF
  if [ "$LOGGING" = log4j2 ]; then
    cat >> "$dir/server.properties" <<EOF
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
EOF
  fi
  write_log_config "$dir"
}

cluster_format() {
  local n dir id pids=()
  if [ ! -f "$CLUSTER_DIR/cluster.id" ]; then
    rm -rf "$CLUSTER_DIR"
    mkdir -p "$CLUSTER_DIR"
    cluster_id > "$CLUSTER_DIR/cluster.id"
  fi
  id=$(cat "$CLUSTER_DIR/cluster.id")
  # Every node formats with the same cluster id (in parallel: each is a JVM start).
  for n in $CLUSTER_NODES; do
    dir=$(node_dir "$n")
    [ -f "$dir/data/meta.properties" ] && continue
    write_node_config "$n"
    # shellcheck disable=SC2046
    java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true $(log_opts "$dir") -cp "$LIBS/*" \
      kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" >"$dir/format.out" 2>&1 &
    pids+=($!)
  done
  for n in "${pids[@]}"; do
    wait "$n" || { log "formatting a cluster node failed:"; cat "$CLUSTER_DIR"/node-*/format.out >&2; exit 1; }
  done
}

cluster_start() {
  local n p dir started=()
  for n in $CLUSTER_NODES; do
    node_running "$n" && continue
    for p in "$(node_broker_port "$n")" "$(node_controller_port "$n")"; do
      if port_open "$p"; then log "port $p (cluster node $n) is already in use by another process"; exit 1; fi
    done
  done
  fetch
  cluster_format
  for n in $CLUSTER_NODES; do
    node_running "$n" && continue
    dir=$(node_dir "$n")
    : > "$dir/kafka.out"
    # shellcheck disable=SC2086,SC2046
    nohup java $CLUSTER_HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true -Dkafka.logs.dir="$dir/logs" $(log_opts "$dir") \
      -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >"$dir/kafka.out" 2>&1 </dev/null &
    echo $! >"$dir/kafka.pid"
    started+=("$n")
  done
  # A node finishes starting only once a majority of the controllers answer: wait for all of them together.
  local deadline=$((SECONDS + TIMEOUT_S))
  for n in "${started[@]}"; do
    dir=$(node_dir "$n")
    until grep -q "Kafka Server started" "$dir/kafka.out" 2>/dev/null && port_open "$(node_broker_port "$n")"; do
      if ! node_running "$n"; then
        log "cluster node $n exited during startup:"; tail -n 60 "$dir/kafka.out" >&2; kill_nodes "${started[@]}"; exit 1
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        log "cluster node $n not ready after ${TIMEOUT_S}s:"; tail -n 60 "$dir/kafka.out" >&2; kill_nodes "${started[@]}"; exit 1
      fi
      sleep 0.2
    done
    log "cluster node $n ready (pid $(node_pid "$n"), broker 127.0.0.1:$(node_broker_port "$n"), log $dir/kafka.out)"
  done
  echo "KAFKA_BROKERS=$(cluster_brokers)"
}

kill_nodes() { # N… : a failed start leaves nothing of its own running
  local n
  for n in "$@"; do node_running "$n" && { kill -KILL "$(node_pid "$n")" 2>/dev/null || true; }; rm -f "$(node_dir "$n")/kafka.pid"; done
}

cluster_stop() {
  local n pid pids=()
  for n in $CLUSTER_NODES; do
    if node_running "$n"; then pid=$(node_pid "$n"); kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
  done
  # All at once: a node stopping alone while the others are gone waits for a quorum that never comes.
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true; done
  for n in $CLUSTER_NODES; do rm -f "$(node_dir "$n")/kafka.pid"; done
}

cluster_status() {
  local n all=0
  for n in $CLUSTER_NODES; do
    if node_running "$n"; then echo "node $n pid $(node_pid "$n") broker 127.0.0.1:$(node_broker_port "$n") up"
    else echo "node $n pid - broker 127.0.0.1:$(node_broker_port "$n") down"; all=1; fi
  done
  return "$all"
}

cluster_kill() { # N
  case "${1:-}" in 1|2|3) ;; *) echo "usage: $0 cluster-kill 1|2|3" >&2; exit 2 ;; esac
  node_running "$1" || { log "cluster node $1 is not running"; exit 1; }
  kill -KILL "$(node_pid "$1")"
  log "cluster node $1 killed (pid $(node_pid "$1"))"
  rm -f "$(node_dir "$1")/kafka.pid"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  reset) stop; rm -rf "$RUN_DIR" ;;
  status) is_running ;;
  cluster-start) cluster_start ;;
  cluster-stop) cluster_stop ;;
  cluster-reset) cluster_stop; rm -rf "$CLUSTER_DIR" ;;
  cluster-status) cluster_status ;;
  cluster-kill) cluster_kill "${2:-}" ;;
  *) echo "usage: $0 fetch|start|stop|reset|status|cluster-start|cluster-stop|cluster-reset|cluster-status|cluster-kill N" >&2; exit 2 ;;
esac
