#!/usr/bin/env bash
# infra/bench.sh - what `npm run bench` does: the set-up of `npm start` (npm packages, the local PostgreSQL
# and its database, a Kafka broker unless KAFKA_BROKERS names one), then bench/run.ts. A broker this
# script started is stopped when the benchmark ends; one that was already running is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
ensure_deps
ensure_postgres
trap stop_own_kafka EXIT INT TERM
ensure_kafka
npx tsx bench/run.ts "$@"
