#!/bin/sh
# The subset of the official image's entrypoint the ladder uses: POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB create the cluster on first start; arguments after
# `postgres` (e.g. -c settings) are passed through.
set -eu
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" > /tmp/pwfile
  "$BIN/initdb" -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile=/tmp/pwfile \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --no-sync >/dev/null
  rm -f /tmp/pwfile
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ -n "${POSTGRES_DB:-}" ] && [ "${POSTGRES_DB}" != "postgres" ]; then
    "$BIN/postgres" --single -D "$PGDATA" postgres <<SQL >/dev/null
CREATE DATABASE "${POSTGRES_DB}";
SQL
  fi
fi
if [ "${1:-postgres}" = "postgres" ]; then
  shift || true
  exec "$BIN/postgres" -D "$PGDATA" "$@"
fi
exec "$@"
