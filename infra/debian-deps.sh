#!/usr/bin/env bash
# infra/debian-deps.sh - Debian packages the test suite needs as real peers, installed when missing
# (CI and fresh machines; root and apt-get as on this machine kind). Idempotent and quiet when all are there.
#   promtool (package prometheus)                checks and unit-tests the alert rules in infra/prometheus
#   python3-confluent-kafka, python3-avro        the Python producer of test/interop (librdkafka, Avro)
# Debian's interpreter, /usr/bin/python3, is the one those packages serve (a pyenv or venv python3 earlier
# on PATH does not see them).
set -euo pipefail
PY=/usr/bin/python3
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
{ [ -x "$PY" ] && "$PY" -c 'import confluent_kafka, avro.schema, avro.io' >/dev/null 2>&1; } || need+=(python3 python3-confluent-kafka python3-avro)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "debian-deps: missing ${need[*]} and cannot apt-get install here; install them, then run the tests again" >&2
  exit 1
fi
echo "debian-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a test file calling this script) may hold the dpkg lock: wait for it instead of failing.
apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
"$PY" -c 'import confluent_kafka, avro.schema, avro.io'
