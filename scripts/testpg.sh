#!/usr/bin/env bash
# Stop/start the throwaway PostgreSQL cluster of a running `make test`, so
# tests can take the database away (503 path) and bring it back.
#   scripts/testpg.sh stop|start|restart|status
# Reads WEBOT_TEST_PGDATA (exported by scripts/test.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

data=${WEBOT_TEST_PGDATA:?WEBOT_TEST_PGDATA is not set (run under make test)}
[[ -s "$data/PG_VERSION" ]] || die "$data is not a PostgreSQL cluster"

case "${1:-}" in
  stop)    pg_cluster_stop "$data" ;;
  start)   pg_cluster_start "$data" ;;
  restart) pg_cluster_stop "$data"; pg_cluster_start "$data" ;;
  status)  if pg_cluster_running "$data"; then echo running; else echo stopped; exit 1; fi ;;
  *) echo "usage: $0 stop|start|restart|status" >&2; exit 2 ;;
esac
