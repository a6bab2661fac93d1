#!/usr/bin/env bash
# The Apache::Test suite against throwaway servers (called by `make test`).
#   1. a PostgreSQL cluster in a temp dir on a free port, migrations applied;
#   2. test secrets, a TLS certificate, a copy of the catalog;
#   3. httpd through Apache::Test (t/TEST.PL, t/conf/extra.conf.in) as root,
#      children as www-data, on a free port;
#   4. prove -I t/lib on every t/**/*.t;
#   5. stop httpd, then fail on unexpected error_log lines (t/error_log.allow)
#      and, with SANITIZE set, on sanitizer reports.
# Everything is stopped on exit. Environment for the tests:
#   WEBOT_TEST_BASE_URL WEBOT_TEST_HTTPS_URL WEBOT_TEST_DB WEBOT_TEST_PG_PORT
#   WEBOT_TEST_PGDATA WEBOT_TEST_DIR WEBOT_TEST_SO WEBOT_TEST_PORT WEBOT_TEST_TLS_PORT
#   WEBOT_TEST_STRIPE_WEBHOOK_SECRET WEBOT_TEST_EXECUTOR_SECRET WEBOT_BUILD_DIR
#   WEBOT_TEST_ERROR_LOG WEBOT_TEST_HTTPD WEBOT_TOP
# Knobs: WEBOT_TEST_CATALOG (catalog file, default conf/catalog.json),
#   WEBOT_TEST_KEEP=1 (keep the temp dir), TEST_FILES="t/10_x.t ..." (subset),
#   PROVE_ARGS (extra prove arguments, e.g. -v), WEBOT_ERRLOG_ALLOW (another
#   allow file for the error_log check; scripts/test-faults.sh sets it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WEBOT_TOP"

# Apache::Test keeps its state in this checkout (t/conf/httpd.conf, t/logs/
# with the pid file and error_log): two runs in one checkout would stop or
# clean each other's httpd. Runs of one checkout take turns.
# The servers and the tests do not inherit the lock (8>&- below), so a
# process a test leaks cannot keep it after this script ends.
LOCK=/tmp/webot-test-$(printf '%s' "$WEBOT_TOP" | sha256sum | cut -c1-16).lock
exec 8>>"$LOCK"
if ! flock -n 8; then
  log "another make test runs in $WEBOT_TOP ($(cat "$LOCK" 2>/dev/null)): waiting for it (at most 40 min)"
  flock -w 2400 8 || die "the other make test in $WEBOT_TOP ($(cat "$LOCK" 2>/dev/null)) did not end within 40 min"
fi
printf 'test.sh pid %s since %s\n' "$$" "$(date -u +%H:%M:%SZ)" >"$LOCK"

BUILD=$(webot_build_dir)
SO=$BUILD/mod_webot.so
[[ -f "$SO" ]] || die "$SO is missing (run make)"
APXS=$(command -v apxs) || die "apxs not found (apache2-dev)"
HTTPD_BIN=$("$APXS" -q SBINDIR)/$("$APXS" -q TARGET)
MODDIR=$("$APXS" -q LIBEXECDIR)
RUN_USER=www-data RUN_GROUP=www-data
CATALOG=${WEBOT_TEST_CATALOG:-$WEBOT_TOP/conf/catalog.json}
[[ -f "$CATALOG" ]] || die "catalog $CATALOG is missing (set WEBOT_TEST_CATALOG)"

T=$(mktemp -d /tmp/webot-test.XXXXXX)
chmod 0755 "$T"
httpd_started=0
cleanup() {
  local rc=$?
  set +e
  if (( httpd_started )); then
    perl t/TEST.PL -stop-httpd >/dev/null 2>&1
    httpd_started=0
  fi
  [[ -s "$T/pg/PG_VERSION" ]] && pg_cluster_stop "$T/pg"
  if [[ "${WEBOT_TEST_KEEP:-0}" == 1 ]]; then
    echo "test files kept in $T" >&2
  else
    rm -rf "$T"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- PostgreSQL -----------------------------------------------------------------
# Another test run may grab the same free port between the check and the
# bind: try the next free ports a few times.
PG_PORT=$(find_free_port $((55000 + RANDOM % 2000)))
pg_cluster_init "$T/pg" "$PG_PORT" "$T/pgsock"
for attempt in 1 2 3 4 5; do
  log "test PostgreSQL on 127.0.0.1:$PG_PORT ($T/pg)"
  if as_pg "$(pg_bindir)/pg_ctl" -D "$T/pg" -l "$T/pg/server.log" -w -t 60 start >/dev/null 8>&-; then break; fi
  (( attempt < 5 )) || { tail -n 30 "$T/pg/server.log" >&2; die "PostgreSQL did not start"; }
  PG_PORT=$(find_free_port $((PG_PORT + 1)))
  pg_cluster_set_port "$T/pg" "$PG_PORT"
done
pg_cluster_setup "$PG_PORT"
export WEBOT_BUILD_DIR=$BUILD
export WEBOT_TEST_PG_PORT=$PG_PORT
export WEBOT_TEST_PGDATA=$T/pg
export WEBOT_TEST_DB="host=127.0.0.1 port=$PG_PORT dbname=webot user=webot"

# --- secrets, certificate, catalog, file store ----------------------------------
export WEBOT_TEST_DIR=$T
write_secret "$T/secret" "$(random_hex 64)"
export WEBOT_TEST_STRIPE_WEBHOOK_SECRET="whsec_$(random_hex 24)"
write_secret "$T/stripe_webhook_secret" "$WEBOT_TEST_STRIPE_WEBHOOK_SECRET"
export WEBOT_TEST_EXECUTOR_SECRET=$(random_hex 32)
write_secret "$T/executor_secret" "$WEBOT_TEST_EXECUTOR_SECRET"
install -m 0644 "$CATALOG" "$T/catalog.json"
mkdir -p "$T/files" "$T/htdocs" && chown "$RUN_USER:$RUN_GROUP" "$T/files"
make_cert "$T/tls"
export WEBOT_TEST_SO=$SO
export WEBOT_TOP

# --- sanitizers -------------------------------------------------------------------
HTTPD=$HTTPD_BIN
if [[ -n "${SANITIZE:-}" ]]; then
  mkdir -p "$T/san" && chmod 1777 "$T/san"
  # Everything instrumented that the tests run (webotctl, ...) reports here too.
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:log_path=$T/san/asan"
  export UBSAN_OPTIONS="print_stacktrace=1:log_path=$T/san/ubsan"
  # httpd is not instrumented: preload the runtimes into it (only into it).
  # ASan reports of httpd children land in $T/san; UBSan's (its runtime
  # ignores log_path there) land in the error_log, where errlog-check.sh
  # catches every "runtime error:" line.
  HTTPD=$T/httpd-san
  cat >"$HTTPD" <<WRAP
#!/bin/sh
LD_PRELOAD="$(san_preload)" exec "$HTTPD_BIN" "\$@"
WRAP
  chmod 0755 "$HTTPD"
fi
# The httpd to run for anything that loads the built module (apache2 -t in
# tests): under SANITIZE the wrapper that preloads the sanitizer runtimes.
export WEBOT_TEST_HTTPD=$HTTPD

# --- httpd through Apache::Test ---------------------------------------------------
# Modules come from this file, not from the system's apache2.conf (which may
# load an installed mod_webot or other modules we do not want).
cat >"$T/modules.conf" <<CONF
LoadModule mpm_event_module     $MODDIR/mod_mpm_event.so
LoadModule authz_core_module    $MODDIR/mod_authz_core.so
LoadModule authz_host_module    $MODDIR/mod_authz_host.so
LoadModule mime_module          $MODDIR/mod_mime.so
LoadModule alias_module         $MODDIR/mod_alias.so
LoadModule dir_module           $MODDIR/mod_dir.so
LoadModule env_module           $MODDIR/mod_env.so
LoadModule headers_module       $MODDIR/mod_headers.so
LoadModule setenvif_module      $MODDIR/mod_setenvif.so
LoadModule status_module        $MODDIR/mod_status.so
LoadModule socache_shmcb_module $MODDIR/mod_socache_shmcb.so
LoadModule ssl_module           $MODDIR/mod_ssl.so
LoadModule dbd_module           $MODDIR/mod_dbd.so
CONF

run_migrations "$WEBOT_TEST_DB"

# A random base port with a few free ports above it (Apache::Test gives the
# TLS vhost the next free one), so that parallel runs rarely meet.
pick_httpd_port() {
  local p
  p=$(find_free_port $((20000 + RANDOM % 9000)))
  while port_in_use $((p + 1)) || port_in_use $((p + 2)) || port_in_use $((p + 3)); do
    p=$(find_free_port $((p + 4)))
  done
  printf '%s\n' "$p"
}

httpd_started=1
for attempt in 1 2 3; do
  port=$(pick_httpd_port)
  log "starting httpd (Apache::Test) on port $port"
  perl t/TEST.PL -clean >/dev/null 2>&1 || true
  if perl t/TEST.PL -apxs "$APXS" -httpd "$HTTPD" -httpd_conf "$T/modules.conf" \
       -user "$RUN_USER" -group "$RUN_GROUP" -port "$port" -servername 127.0.0.1 \
       -start-httpd 8>&-; then
    break
  fi
  # a port taken between the check and httpd's bind: once more elsewhere
  if (( attempt < 3 )) && grep -q 'Address already in use' t/logs/error_log 2>/dev/null; then
    warn "httpd could not bind its port, retrying"
    continue
  fi
  tail -n 40 t/logs/error_log >&2 2>/dev/null || true
  die "httpd did not start"
done
export WEBOT_TEST_ERROR_LOG=$WEBOT_TOP/t/logs/error_log
read -r WEBOT_TEST_PORT WEBOT_TEST_TLS_PORT < <(perl -MApache::TestConfig \
  -e '$v = Apache::TestConfig->thaw->{vars}; print "$v->{port} $v->{webot_tls_port}\n"')
export WEBOT_TEST_PORT WEBOT_TEST_TLS_PORT
export WEBOT_TEST_BASE_URL=http://127.0.0.1:$WEBOT_TEST_PORT
export WEBOT_TEST_HTTPS_URL=https://127.0.0.1:$WEBOT_TEST_TLS_PORT
log "httpd on $WEBOT_TEST_BASE_URL and $WEBOT_TEST_HTTPS_URL, PostgreSQL on port $PG_PORT"

# --- the suite ------------------------------------------------------------------------
rc=0
# every *.t under t/ (not inside node_modules), in name order
if [[ -z "${TEST_FILES:-}" ]]; then
  TEST_FILES=$(find t -name node_modules -prune -o -name '*.t' -type f -print | LC_ALL=C sort | tr '\n' ' ')
fi
# shellcheck disable=SC2086
prove -I t/lib --timer ${PROVE_ARGS:-} $TEST_FILES 8>&- || rc=1

log "stopping httpd"
perl t/TEST.PL -stop-httpd >/dev/null 2>&1 || true
httpd_started=0

scripts/errlog-check.sh t/logs/error_log "${WEBOT_ERRLOG_ALLOW:-t/error_log.allow}" || rc=1
if [[ -n "${SANITIZE:-}" ]]; then
  scripts/san-check.sh "$T/san" || rc=1
fi
if (( rc )); then echo "Apache::Test suite: FAILED" >&2; else echo "Apache::Test suite: passed"; fi
exit "$rc"
