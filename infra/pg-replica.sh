#!/usr/bin/env bash
# infra/pg-replica.sh - a private PostgreSQL primary and a streaming standby of it (pg_basebackup), for
# running the query API against a read replica. Independent of the cluster on 5432 (whose replication
# settings it never touches).
#   infra/pg-replica.sh start    initdb the primary once, base-backup the standby once, start both, wait
#                                until the standby streams; last two stdout lines:
#                                PRIMARY_URL=postgres://postgres@127.0.0.1:25432/idp
#                                REPLICA_URL=postgres://postgres@127.0.0.1:25433/idp
#   infra/pg-replica.sh stop     stop both (pg_ctl, fast mode); data is kept
#   infra/pg-replica.sh reset    stop both and delete their data
#   infra/pg-replica.sh status   one line per server; exit 0 when both are up and the standby streams
#
# Env: PG_REPLICA_DIR (/tmp/idp-pg-replica-<uid>-<primary port>) PG_REPLICA_PRIMARY_PORT (25432)
#      PG_REPLICA_STANDBY_PORT (25433) PG_BIN (the newest /usr/lib/postgresql/*/bin).
# PostgreSQL refuses to run as root: as root, the servers run as the user postgres (runuser), and their
# data lives outside the repository (a clean clone's parent may not be readable by that user).
set -euo pipefail

PRIMARY_PORT="${PG_REPLICA_PRIMARY_PORT:-25432}"
STANDBY_PORT="${PG_REPLICA_STANDBY_PORT:-25433}"
DIR="${PG_REPLICA_DIR:-/tmp/idp-pg-replica-$(id -u)-$PRIMARY_PORT}"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
PRIMARY="$DIR/primary"
STANDBY="$DIR/standby"
log() { echo "pg-replica: $*" >&2; }

[ -x "$PG_BIN/pg_ctl" ] || { log "no PostgreSQL server binaries (apt-get install postgresql); PG_BIN=$PG_BIN"; exit 1; }

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
up() { as_server_user "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1; }
answers() { psql "postgres://postgres@127.0.0.1:$1/postgres" -Atqc 'select 1' >/dev/null 2>&1; }
streaming() { [ "$(psql "postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres" -Atqc "select count(*) from pg_stat_replication where state = 'streaming'" 2>/dev/null)" = 1 ]; }

start_server() { # DATA PORT
  up "$1" && return 0
  as_server_user "$PG_BIN/pg_ctl" -D "$1" -l "$1/server.log" -w -t 60 -o "-p $2 -k $DIR" start >/dev/null ||
    { log "could not start the server in $1 (port $2):"; tail -n 20 "$1/server.log" >&2; exit 1; }
}

start() {
  for p in "$PRIMARY_PORT" "$STANDBY_PORT"; do
    if answers "$p" && ! up "$PRIMARY" && ! up "$STANDBY"; then
      log "port $p is taken by another server; pick others with PG_REPLICA_PRIMARY_PORT=… PG_REPLICA_STANDBY_PORT=…"; exit 1
    fi
  done
  mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"
  chmod 700 "$DIR"
  if [ ! -f "$PRIMARY/PG_VERSION" ]; then
    as_server_user "$PG_BIN/initdb" -D "$PRIMARY" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$PRIMARY/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 4
hot_standby = on
shared_buffers = 16MB
max_connections = 60
fsync = off
EOF
    echo "host replication all 127.0.0.1/32 trust" >>"$PRIMARY/pg_hba.conf"
    log "initialised the primary in $PRIMARY"
  fi
  start_server "$PRIMARY" "$PRIMARY_PORT"
  if [ "$(psql "postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres" -Atqc "select 1 from pg_database where datname = 'idp'")" != 1 ]; then
    psql "postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres" -qc "CREATE DATABASE idp" >/dev/null
  fi
  if [ ! -f "$STANDBY/PG_VERSION" ]; then
    # -R writes standby.signal and primary_conninfo: the copy starts as a streaming standby.
    as_server_user "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$STANDBY" -R -X stream -c fast
    log "base backup of the primary taken into $STANDBY"
  fi
  start_server "$STANDBY" "$STANDBY_PORT"
  for _ in $(seq 1 100); do streaming && break; sleep 0.2; done
  streaming || { log "the standby does not stream from the primary (see $STANDBY/server.log)"; exit 1; }
  echo "PRIMARY_URL=postgres://postgres@127.0.0.1:$PRIMARY_PORT/idp"
  echo "REPLICA_URL=postgres://postgres@127.0.0.1:$STANDBY_PORT/idp"
}

stop() {
  for d in "$STANDBY" "$PRIMARY"; do
    if up "$d"; then as_server_user "$PG_BIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null; fi
  done
}

status() {
  local ok=0
  for pair in "primary:$PRIMARY:$PRIMARY_PORT" "standby:$STANDBY:$STANDBY_PORT"; do
    IFS=: read -r name data port <<<"$pair"
    if up "$data"; then echo "$name 127.0.0.1:$port up"; else echo "$name 127.0.0.1:$port down"; ok=1; fi
  done
  if streaming; then echo "standby streaming"; else echo "standby not streaming"; ok=1; fi
  return $ok
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  reset) stop; rm -rf "$DIR" ;;
  status) status ;;
  *) echo "usage: $0 start|stop|reset|status" >&2; exit 2 ;;
esac
