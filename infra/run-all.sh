#!/usr/bin/env bash
# infra/run-all.sh - run the whole system on this machine (what `npm start` does): a real Kafka broker,
# the local PostgreSQL, every projector service, and the demo producer. Ctrl-C stops everything it started
# (a broker that was already running, e.g. another run's, is left alone).
#   Env: AUTH_MODE (dev: tenant from X-Instance-Id; set jwt + AUTH_JWT_SECRET for real tokens),
#        DEMO=0 to skip the demo events, LOG_LEVEL, KAFKA_BROKERS / DATABASE_URL to use your own,
#        PORT_OFFSET=N to move every API port by N (8081+N …), KAFKA_BROKER_PORT / KAFKA_CONTROLLER_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
RUN=.run
mkdir -p "$RUN"
PORT_OFFSET="${PORT_OFFSET:-0}"

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

declare -A ports=()
for dir in services/*/; do
  name=$(basename "$dir")
  ports[$name]=$(($(grep -oE 'defaultPort: [0-9]+' "$dir/src/index.ts" | grep -oE '[0-9]+') + PORT_OFFSET))
done
# Check every port before starting anything, so a second run never disturbs the first one.
for name in "${!ports[@]}"; do
  if port_taken "${ports[$name]}"; then
    echo "port ${ports[$name]} ($name's API) is already in use, perhaps by another 'npm start'. Stop that, or move every API port: PORT_OFFSET=100 npm start" >&2
    exit 1
  fi
done

ensure_deps
ensure_postgres
pids=()
stop() {
  echo "stopping services..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  stop_own_kafka
}
trap stop EXIT INT TERM
ensure_kafka
export AUTH_MODE="${AUTH_MODE:-dev}" LOG_LEVEL="${LOG_LEVEL:-info}"

for name in "${!ports[@]}"; do
  HTTP_PORT="${ports[$name]}" node --import tsx "services/$name/src/main.ts" >"$RUN/$name.log" 2>&1 &
  pids+=($!)
  echo "started $name on http://127.0.0.1:${ports[$name]} (log $RUN/$name.log)"
done

for name in "${!ports[@]}"; do
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:${ports[$name]}/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fs "http://127.0.0.1:${ports[$name]}/healthz" >/dev/null || { echo "$name did not start; see $RUN/$name.log"; exit 1; }
done

if [ "${DEMO:-1}" != "0" ]; then node --import tsx packages/producer/src/demo.ts; fi

users="http://127.0.0.1:${ports[users]}"
cat <<EOT

All projectors are running (AUTH_MODE=$AUTH_MODE). Try:
  curl -s -H 'X-Instance-Id: demo-inst-1' '$users/v1/users?limit=3'
  curl -s $users/openapi.json | head -c 300
  curl -s $users/metrics | grep projector_
Ctrl-C stops everything.
EOT
wait
