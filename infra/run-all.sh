#!/usr/bin/env bash
# infra/run-all.sh - run the whole system on this machine (what `npm start` does): a real Kafka broker,
# the local PostgreSQL, every projector service, and the demo producer. Ctrl-C stops everything.
#   Env: AUTH_MODE (dev: tenant from X-Instance-Id; set jwt + AUTH_JWT_SECRET for real tokens),
#        DEMO=0 to skip the demo events, LOG_LEVEL, KAFKA_BROKERS / DATABASE_URL to use your own.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=.run
mkdir -p "$RUN"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
own_kafka=0
if [ -z "${KAFKA_BROKERS:-}" ]; then export "$(bash infra/kafka.sh start | tail -n 1)"; own_kafka=1; fi
if [ -z "${DATABASE_URL:-}" ]; then export "$(bash infra/postgres.sh ensure | tail -n 1)"; fi
export AUTH_MODE="${AUTH_MODE:-dev}" LOG_LEVEL="${LOG_LEVEL:-info}"

pids=()
stop() {
  echo "stopping services..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$own_kafka" = 1 ]; then bash infra/kafka.sh stop; fi
}
trap stop EXIT INT TERM

declare -A ports=()
for dir in services/*/; do
  name=$(basename "$dir")
  port=$(grep -oE 'defaultPort: [0-9]+' "$dir/src/index.ts" | grep -oE '[0-9]+')
  ports[$name]=$port
  node --import tsx "$dir/src/main.ts" >"$RUN/$name.log" 2>&1 &
  pids+=($!)
  echo "started $name on http://127.0.0.1:$port (log $RUN/$name.log)"
done

for name in "${!ports[@]}"; do
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:${ports[$name]}/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fs "http://127.0.0.1:${ports[$name]}/healthz" >/dev/null || { echo "$name did not start; see $RUN/$name.log"; exit 1; }
done

if [ "${DEMO:-1}" != "0" ]; then node --import tsx packages/producer/src/demo.ts; fi

cat <<EOT

All projectors are running (AUTH_MODE=$AUTH_MODE). Try:
  curl -s -H 'X-Instance-Id: demo-inst-1' 'http://127.0.0.1:8081/v1/users?limit=3'
  curl -s http://127.0.0.1:8081/openapi.json | head -c 300
  curl -s http://127.0.0.1:8081/metrics | grep projector_
Ctrl-C stops everything.
EOT
wait
