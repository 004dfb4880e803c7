#!/bin/sh
# Initialise the cluster on first start (as the official image does), then run postgres.
set -eu
BIN=/usr/lib/postgresql/15/bin
USER_NAME=${POSTGRES_USER:-postgres}
DB_NAME=${POSTGRES_DB:-$USER_NAME}
mkdir -p "$PGDATA" && chown -R postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  su postgres -c "$BIN/initdb -D $PGDATA -U $USER_NAME --auth=trust -E UTF8 --locale=C" >/dev/null
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "fsync = off" >> "$PGDATA/postgresql.conf"
  echo "host all all all trust" >> "$PGDATA/pg_hba.conf"
  su postgres -c "$BIN/pg_ctl -D $PGDATA -o '-c listen_addresses=' -w start" >/dev/null
  if [ "$DB_NAME" != "postgres" ]; then
    su postgres -c "$BIN/psql -U $USER_NAME -d postgres -c 'CREATE DATABASE \"$DB_NAME\"'" >/dev/null
  fi
  su postgres -c "$BIN/pg_ctl -D $PGDATA -m fast -w stop" >/dev/null
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$BIN/postgres" -D "$PGDATA"
