#!/usr/bin/env bash
# Bootstrap migration runner (used until build/webotctl has `migrate`):
# applies sql/NNN_*.sql in order, each once, in its own transaction, and
# records it in schema_migrations(version, applied_at) — the same table
# `webotctl migrate` uses (version = file name without .sql).
#   scripts/migrate.sh CONNINFO [SQL_DIR]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

conninfo=${1:?usage: migrate.sh CONNINFO [SQL_DIR]}
sqldir=${2:-$WEBOT_TOP/sql}
psql_=(psql -X -q -v ON_ERROR_STOP=1 -d "$conninfo")

"${psql_[@]}" -c "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now())" 2>&1 | grep -v 'already exists, skipping' >&2 || true

applied=$("${psql_[@]}" -tAc "SELECT version FROM schema_migrations")
shopt -s nullglob
n=0
files=("$sqldir"/*.sql)   # glob order is sorted (C locale for NNN_ names)
for f in "${files[@]}"; do
  v=$(basename "$f" .sql)
  if grep -qxF -- "$v" <<<"$applied"; then continue; fi
  log "applying $v"
  # One transaction (-1): the file and its schema_migrations row commit together.
  "${psql_[@]}" -1 -f "$f" \
      -c "INSERT INTO schema_migrations (version) VALUES ('${v//\'/\'\'}')" >/dev/null \
    || die "migration $v failed"
  n=$((n + 1))
done
log "migrations: $n applied"
