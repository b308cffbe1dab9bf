#!/usr/bin/env bash
# infra/test.sh - the whole test suite on this machine (what `npm test` and CI run):
# installs npm packages if needed, starts a real Kafka (infra/kafka.sh) and PostgreSQL (infra/postgres.sh)
# unless KAFKA_BROKERS / DATABASE_URL point elsewhere, typechecks, lints, then runs every vitest file.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if [ -z "${KAFKA_BROKERS:-}" ]; then export "$(bash infra/kafka.sh start | tail -n 1)"; fi
if [ -z "${DATABASE_URL:-}" ]; then export "$(bash infra/postgres.sh ensure | tail -n 1)"; fi
echo "test: KAFKA_BROKERS=$KAFKA_BROKERS DATABASE_URL=$DATABASE_URL" >&2

TURBO_TELEMETRY_DISABLED=1 npx turbo run typecheck lint --output-logs=errors-only
npx vitest run "$@"
