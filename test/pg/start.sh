#!/usr/bin/env bash
# Starts the machine's PostgreSQL 15 cluster (Debian's pg_ctlcluster) and makes the
# role and database the tests use. Idempotent: safe to run when it is already up.
# Prints the DSN to use on its last line.
set -euo pipefail

user=${OTE_PG_USER:-ote}
pass=${OTE_PG_PASSWORD:-ote}
db=${OTE_PG_DB:-ote_test}
dsn="postgres://${user}:${pass}@127.0.0.1:5432/${db}?sslmode=disable"

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "start.sh: pg_ctlcluster not found; install PostgreSQL 15 (apt-get install postgresql-15)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "start.sh: must run as root to start the cluster" >&2
  exit 1
fi

status=$(pg_lsclusters --no-header 15 main 2>/dev/null | awk '{print $4}')
if [ "$status" != "online" ]; then
  pg_ctlcluster 15 main start
fi
for _ in $(seq 1 50); do
  if su postgres -c "psql -Atqc 'select 1'" >/dev/null 2>&1; then break; fi
  sleep 0.2
done

su postgres -c "psql -v ON_ERROR_STOP=1 -Atq" <<SQL >/dev/null
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${user}') THEN
    CREATE ROLE ${user} LOGIN PASSWORD '${pass}';
  END IF;
END
\$\$;
ALTER ROLE ${user} CREATEDB;
SQL
if ! su postgres -c "psql -Atqc \"select 1 from pg_database where datname='${db}'\"" | grep -q 1; then
  su postgres -c "createdb -O ${user} ${db}"
fi
echo "$dsn"
