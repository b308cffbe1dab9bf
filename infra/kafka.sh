#!/usr/bin/env bash
# infra/kafka.sh - a REAL single-node Apache Kafka broker (KRaft, combined broker+controller) from jars
# resolved with Maven from Maven Central. No Docker. Recipe: shared/kafka-from-maven.md.
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
  # Unlimited retention: replaying the topic rebuilds read models, so history must stay (DESIGN §2).
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
    cat > "$RUN_DIR/log4j2.properties" <<EOF
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
    cat > "$RUN_DIR/log4j.properties" <<EOF
log4j.rootLogger=$LOG_LEVEL, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
  fi
}

log_opts() {
  if [ "$LOGGING" = log4j2 ]; then echo "-Dlog4j2.configurationFile=$RUN_DIR/log4j2.properties"
  else echo "-Dlog4j.configuration=file:$RUN_DIR/log4j.properties"; fi
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

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  reset) stop; rm -rf "$RUN_DIR" ;;
  status) is_running ;;
  *) echo "usage: $0 fetch|start|stop|reset|status" >&2; exit 2 ;;
esac
