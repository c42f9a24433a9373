#!/usr/bin/env bash
# System packages the harness needs on a fresh Debian/Ubuntu machine: mmdebstrap (the offline
# Docker base), PostgreSQL (server + pg_stat_statements from contrib) for the embedded database,
# and Chromium with its driver (the tests open each run's report.html in a real browser). Idempotent.
set -euo pipefail
have_postgres() { ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1; }
have_mmdebstrap() { command -v mmdebstrap >/dev/null 2>&1; }
have_contrib() { ls /usr/share/postgresql/*/extension/pg_stat_statements.control >/dev/null 2>&1; }
have_chromium() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }
if have_postgres && have_contrib && have_mmdebstrap && have_chromium; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install PostgreSQL (postgresql, postgresql-contrib) or set LADDER_DATABASE_URL" >&2; exit 1; }
  SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql postgresql-contrib mmdebstrap \
  chromium chromium-driver >/dev/null
# the harness starts its own private server; the distribution's default cluster is not needed
$SUDO service postgresql stop >/dev/null 2>&1 || true
