#!/usr/bin/env bash
# infra/test.sh - the whole test suite on this machine (what `npm test` and CI run):
# installs npm packages if needed, starts a real Kafka (infra/kafka.sh) and PostgreSQL (infra/postgres.sh)
# unless KAFKA_BROKERS / DATABASE_URL point elsewhere, typechecks, lints, then runs every vitest file.
# A broker this script started is stopped when it ends (one that was already running is left alone).
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh

ensure_deps
bash infra/debian-deps.sh
ensure_kafka
trap stop_own_kafka EXIT
ensure_postgres
echo "test: KAFKA_BROKERS=$KAFKA_BROKERS DATABASE_URL=$DATABASE_URL" >&2

TURBO_TELEMETRY_DISABLED=1 npx turbo run typecheck lint --output-logs=errors-only
npx vitest run "$@"
