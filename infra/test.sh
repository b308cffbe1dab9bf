#!/usr/bin/env bash
# infra/test.sh - the whole test suite on this machine (what `npm test` and CI run):
# installs npm packages if needed, starts a real Kafka (infra/kafka.sh) and PostgreSQL (infra/postgres.sh)
# unless KAFKA_BROKERS / DATABASE_URL point elsewhere, typechecks, lints, then runs every vitest file, and a
# few of them again with the second Kafka client (KAFKA_CLIENT=platformatic).
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
if [ "$#" -eq 0 ]; then
  # The second Kafka client behind the port (KAFKA_CLIENT): the client-sensitive faults and an end-to-end run again with it.
  KAFKA_CLIENT=platformatic npx vitest run test/faults/broker-restart.test.ts test/faults/hostile-records.test.ts \
    test/faults/mismatched-log.test.ts test/e2e/read-your-writes.test.ts services/users/test/e2e.test.ts
fi
