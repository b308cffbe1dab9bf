# infra/lib.sh - sourced by run-all.sh, test.sh and bench.sh: the set-up those commands share.
# ensure_deps     npm ci when node_modules is missing or older than the lock file
# ensure_kafka    KAFKA_BROKERS given: use it; else start infra/kafka.sh's broker. Sets OWN_KAFKA=1 only when
#                 this call started it, so the caller stops what it started and nothing else.
# ensure_postgres DATABASE_URL given: check it; else the local cluster and database (infra/postgres.sh)
# last_line       the KEY=value line a script prints last, refusing anything else

ensure_deps() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
}

last_line() { # NAME OUTPUT
  local line="${2##*$'\n'}"
  case "$line" in "$1="?*) echo "$line" ;; *) return 1 ;; esac
}

OWN_KAFKA=0
ensure_kafka() {
  [ -n "${KAFKA_BROKERS:-}" ] && return 0
  local out
  bash infra/kafka.sh status || OWN_KAFKA=1
  out=$(bash infra/kafka.sh start) || {
    OWN_KAFKA=0
    echo "could not start Kafka (see above). Another broker on port ${KAFKA_BROKER_PORT:-19092}? Use it with KAFKA_BROKERS=host:port, or pick free ports with KAFKA_BROKER_PORT=… KAFKA_CONTROLLER_PORT=…" >&2
    return 1
  }
  export "$(last_line KAFKA_BROKERS "$out")"
}

stop_own_kafka() {
  if [ "$OWN_KAFKA" = 1 ]; then bash infra/kafka.sh stop; OWN_KAFKA=0; fi
}

ensure_postgres() {
  local out
  out=$(bash infra/postgres.sh ensure) || { echo "PostgreSQL is not available (see above)" >&2; return 1; }
  export "$(last_line DATABASE_URL "$out")"
}
