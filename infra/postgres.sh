#!/usr/bin/env bash
# infra/postgres.sh - make sure a PostgreSQL answers on 127.0.0.1:5432 and the project database exists.
#   infra/postgres.sh ensure   start the local cluster if nothing answers; create database $PGDATABASE_NAME (idp)
# Env: DATABASE_URL overrides everything (then this script only checks that it answers).
set -euo pipefail
DB_NAME="${PGDATABASE_NAME:-idp}"
ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
log() { echo "postgres: $*" >&2; }

answers() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }

ensure() {
  if [ -n "${DATABASE_URL:-}" ]; then
    answers "$DATABASE_URL" || { log "DATABASE_URL does not answer"; exit 1; }
    echo "DATABASE_URL=$DATABASE_URL"; return 0
  fi
  command -v psql >/dev/null || { log "psql not found (apt-get install postgresql-client)"; exit 1; }
  if ! answers "$ADMIN_URL"; then
    log "nothing answers on 127.0.0.1:5432; starting the local cluster"
    if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
      ver=$(ls /etc/postgresql | sort -V | tail -n 1)
      pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    else
      log "no local PostgreSQL cluster found (apt-get install postgresql)"; exit 1
    fi
    for _ in $(seq 1 60); do answers "$ADMIN_URL" && break; sleep 0.5; done
    answers "$ADMIN_URL" || { log "PostgreSQL did not come up"; exit 1; }
  fi
  if [ "$(psql "$ADMIN_URL" -Atqc "select 1 from pg_database where datname = '$DB_NAME'")" != "1" ]; then
    psql "$ADMIN_URL" -qc "CREATE DATABASE $DB_NAME" >/dev/null
    log "created database $DB_NAME"
  fi
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB_NAME"
}

case "${1:-}" in
  ensure) ensure ;;
  *) echo "usage: $0 ensure" >&2; exit 2 ;;
esac
