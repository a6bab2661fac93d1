#!/usr/bin/env bash
# Development servers for `make run` / `make stop`.
#   scripts/dev.sh start    PostgreSQL (var/pg, 127.0.0.1:54329) + migrations +
#                           secrets + TLS cert + httpd (127.0.0.1:8080, :8443);
#                           reuses what exists, restarts httpd gracefully when
#                           the module or the config changed; writes var/webot.env
#   scripts/dev.sh stop     stop httpd and PostgreSQL
#   scripts/dev.sh status   show what runs
#   scripts/dev.sh env      print var/webot.env
# Environment: WEBOT_BUILD_DIR (build/), SANITIZE, STRIPE_SECRET_KEY_FILE,
#   WEBOT_DEV_HTTP_PORT (8080), WEBOT_DEV_HTTPS_PORT (8443), WEBOT_DEV_PG_PORT (54329).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOP=$WEBOT_TOP
VAR=$TOP/var
BUILD=$(webot_build_dir)
SO=$BUILD/mod_webot.so
CTL=$BUILD/webotctl
HTTPD=${HTTPD:-/usr/sbin/apache2}
HTTP_PORT=${WEBOT_DEV_HTTP_PORT:-8080}
HTTPS_PORT=${WEBOT_DEV_HTTPS_PORT:-8443}
PG_PORT=${WEBOT_DEV_PG_PORT:-54329}
PGDATA_DIR=$VAR/pg
PG_SOCK=$VAR/run
# unix socket paths are limited to 107 bytes
if (( ${#PG_SOCK} > 80 )); then PG_SOCK=/tmp; fi
HCONF=$VAR/httpd/httpd.conf
HPID=$VAR/httpd/run/httpd.pid
RUN_USER=www-data
RUN_GROUP=www-data
CONNINFO="host=127.0.0.1 port=$PG_PORT dbname=webot user=webot"
BASE_URL=http://127.0.0.1:$HTTP_PORT
HTTPS_URL=https://127.0.0.1:$HTTPS_PORT
ENVFILE=$VAR/webot.env

httpd_pid() {
  local pid
  [[ -s "$HPID" ]] || return 1
  pid=$(<"$HPID")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # a stale pid file may name an unrelated process by now
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$(readlink -f "$HTTPD")" ]] || return 1
  printf '%s\n' "$pid"
}

# --- PostgreSQL ---------------------------------------------------------------
start_pg() {
  if [[ ! -s "$PGDATA_DIR/PG_VERSION" ]]; then
    log "creating PostgreSQL cluster in $PGDATA_DIR (127.0.0.1:$PG_PORT)"
    pg_cluster_init "$PGDATA_DIR" "$PG_PORT" "$PG_SOCK"
  fi
  if ! pg_cluster_running "$PGDATA_DIR"; then
    port_in_use "$PG_PORT" && die "port $PG_PORT is taken by another process"
    pg_cluster_set_port "$PGDATA_DIR" "$PG_PORT"
    log "starting PostgreSQL"
    pg_cluster_start "$PGDATA_DIR"
  fi
  pg_cluster_setup "$PG_PORT"
  run_migrations "$CONNINFO"
}

# --- secrets and certificate ---------------------------------------------------
make_secrets() {
  [[ -s "$VAR/secret" ]] || write_secret "$VAR/secret" "$(random_hex 64)"
  [[ -s "$VAR/stripe_webhook_secret" ]] \
    || write_secret "$VAR/stripe_webhook_secret" "whsec_$(random_hex 24)"
  [[ -s "$VAR/executor_secret" ]] || write_secret "$VAR/executor_secret" "$(random_hex 32)"
  if [[ ! -s "$VAR/tls/cert.pem" || ! -s "$VAR/tls/key.pem" ]]; then
    log "creating self-signed certificate in $VAR/tls"
    make_cert "$VAR/tls"
  fi
}

# --- demo account ----------------------------------------------------------------
# Creates (once) a demo owner with a manual entitlement to a plan that has both
# access paths, and an API key; the result is kept in var/demo.env and reused
# while its account still exists in the database. Needs webotctl with the
# account/user/entitlement/key commands of CONTRACT.md section 6.
# json_get FIELD: print one top-level field of the JSON object on stdin.
json_get() { perl -MJSON::PP -e 'my $f = shift; local $/; my $j = JSON::PP->new->decode(<STDIN>); print $j->{$f} // ""' "$1"; }

# A plan id from the catalog whose access has both "api" and "dashboard".
demo_plan() {
  perl -MJSON::PP -e '
    local $/; open my $fh, "<", $ARGV[0] or exit 1;
    my $c = JSON::PP->new->decode(<$fh>);
    my @plans = ref $c->{plans} eq "ARRAY" ? @{$c->{plans}} : ();
    for my $p (@plans) {
      my %a = map { $_ => 1 } @{ $p->{access} || [] };
      if ($a{api} && $a{dashboard}) { print $p->{id}; exit 0 }
    }
    exit 1' "$TOP/conf/catalog.json"
}

demo_account() {
  # Kept in var/demo.env (mode 0600): account, owner email and password, key
  # id and key. Each run checks them against the database and repairs what
  # is missing: a new owner (fresh email) if the user is gone, a new Both
  # grant if the entitlement is missing or not active, a new key if the key
  # is unknown or revoked. So the key printed is always one that works.
  DEMO_API_KEY="" DEMO_EMAIL="" DEMO_PASSWORD=""
  local cmd plan acct="" email="" password="" key="" key_id=""
  for cmd in account user entitlement key; do
    if ! webotctl_has "$CTL" "$cmd"; then
      warn "demo account skipped: $CTL has no '$cmd' command yet"
      return 0
    fi
  done
  plan=$(demo_plan) || { warn "demo account skipped: no plan with api+dashboard in conf/catalog.json"; return 0; }
  q() { psql -X -tAq -v ON_ERROR_STOP=1 -d "$CONNINFO" -c "$1" 2>/dev/null; }
  if [[ -s "$VAR/demo.env" ]]; then
    local DEMO_ACCOUNT_ID="" DEMO_KEY_ID=""
    # shellcheck disable=SC1091
    source "$VAR/demo.env"
    acct=${DEMO_ACCOUNT_ID//[^a-z0-9_]/} email=${DEMO_EMAIL//\'/} password=${DEMO_PASSWORD:-}
    key=${DEMO_API_KEY:-} key_id=${DEMO_KEY_ID//[^a-z0-9_]/}
    if [[ -z "$acct" || "$(q "SELECT 1 FROM accounts WHERE id = '$acct'")" != 1 ]]; then
      acct="" email="" password="" key="" key_id=""
    fi
  fi
  if [[ -z "$acct" ]]; then
    log "creating demo account"
    acct=$("$CTL" --db "$CONNINFO" --json account create --name "Demo" | json_get id)
    [[ -n "$acct" ]] || die "webotctl did not create the demo account"
  fi
  # the owner: reuse while that user is still the account's owner
  if [[ -z "$email" || -z "$password" \
        || "$(q "SELECT 1 FROM users WHERE account_id = '$acct' AND lower(email) = lower('$email') AND role = 'owner'")" != 1 ]]; then
    email="owner@demo.webot.test"
    if [[ "$(q "SELECT 1 FROM users WHERE lower(email) = '$email'")" == 1 ]]; then
      email="owner-$(random_hex 4)@demo.webot.test"   # the address is taken by a lost demo
    fi
    password=$(random_hex 12)
    log "creating demo owner $email"
    printf '%s\n' "$password" | "$CTL" --db "$CONNINFO" --json user create --account "$acct" \
      --email "$email" --role owner --password-stdin >/dev/null \
      || die "webotctl could not create the demo owner"
  fi
  # the entitlement: a manual grant of the Both plan, active and not expired
  if [[ "$(q "SELECT 1 FROM entitlements WHERE account_id = '$acct' AND plan_id = '${plan//\'/}' AND status = 'active' AND (expires_at IS NULL OR expires_at > now())")" != 1 ]]; then
    log "granting the demo account plan $plan"
    "$CTL" --db "$CONNINFO" --json entitlement grant --account "$acct" --plan "$plan" >/dev/null \
      || die "webotctl could not grant the demo entitlement"
  fi
  # the key: reuse while it is the account's and not revoked
  if [[ -z "$key" || "$(q "SELECT 1 FROM api_keys WHERE account_id = '$acct' AND revoked_at IS NULL AND key_hash = decode('$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)', 'hex')")" != 1 ]]; then
    log "creating a demo API key"
    local out
    out=$("$CTL" --db "$CONNINFO" --json key create --account "$acct" --name "demo") \
      || die "webotctl could not create the demo key"
    key=$(json_get key <<<"$out") key_id=$(json_get id <<<"$out")
    [[ -n "$key" ]] || die "webotctl did not return the demo key"
  fi
  ( umask 077
    printf "DEMO_ACCOUNT_ID='%s'\nDEMO_EMAIL='%s'\nDEMO_PASSWORD='%s'\nDEMO_KEY_ID='%s'\nDEMO_API_KEY='%s'\n" \
      "$acct" "$email" "$password" "$key_id" "$key" >"$VAR/demo.env.new"
    mv "$VAR/demo.env.new" "$VAR/demo.env" )
  chmod 0600 "$VAR/demo.env"
  DEMO_ACCOUNT_ID=$acct DEMO_API_KEY=$key DEMO_EMAIL=$email DEMO_PASSWORD=$password
  unset -f q
}

# --- httpd ---------------------------------------------------------------------------
write_httpd_conf() {
  mkdir -p "$VAR/httpd/run" "$VAR/httpd/htdocs/static" "$VAR/files"
  chown "$RUN_USER:$RUN_GROUP" "$VAR/files" 2>/dev/null || true
  local stripe_line="# (no STRIPE_SECRET_KEY_FILE given)"
  if [[ -n "${STRIPE_SECRET_KEY_FILE:-}" ]]; then
    [[ -r "$STRIPE_SECRET_KEY_FILE" ]] || die "STRIPE_SECRET_KEY_FILE $STRIPE_SECRET_KEY_FILE is not readable"
    stripe_line="WebotStripeSecretKeyFile \"$(realpath "$STRIPE_SECRET_KEY_FILE")\""
  fi
  # mod_dbd connects as the httpd user: through PostgreSQL's Unix socket
  # when that user can reach its directory (not in a checkout under a home
  # directory of mode 0700, say), over loopback TCP otherwise
  local dbd_host=127.0.0.1
  if [[ $(id -u) -ne 0 ]] || runuser -u "$RUN_USER" -- test -x "$PG_SOCK" -a -w "$PG_SOCK/.s.PGSQL.$PG_PORT" 2>/dev/null; then
    dbd_host=$PG_SOCK
  fi
  fill_template "$TOP/conf/httpd-dev.conf.in" "$HCONF.new" \
    TOP="$TOP" VAR="$VAR" SO="$SO" MODDIR="$(apxs -q LIBEXECDIR)" \
    HTTP_PORT="$HTTP_PORT" HTTPS_PORT="$HTTPS_PORT" PG_PORT="$PG_PORT" PG_SOCK="$dbd_host" \
    USER="$RUN_USER" GROUP="$RUN_GROUP" STRIPE_KEY_LINE="$stripe_line"
  mv "$HCONF.new" "$HCONF"
  if [[ -f "$TOP/conf/catalog.json" ]]; then
    install -m 0644 "$TOP/conf/catalog.json" "$VAR/httpd/htdocs/static/catalog.json"
  fi
}

httpd_env() {
  local pre
  HTTPD_ENV=()
  if [[ -n "${SANITIZE:-}" ]]; then
    pre=$(san_preload)
    mkdir -p "$VAR/httpd/san"; chmod 1777 "$VAR/httpd/san"
    HTTPD_ENV=(LD_PRELOAD="$pre"
      ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:log_path=$VAR/httpd/san/asan"
      UBSAN_OPTIONS="print_stacktrace=1:log_path=$VAR/httpd/san/ubsan")
  fi
}

start_httpd() {
  [[ -f "$SO" ]] || die "$SO is missing (run make)"
  [[ -f "$TOP/conf/catalog.json" ]] || warn "conf/catalog.json is missing"
  write_httpd_conf
  httpd_env
  local stamp pid
  stamp=$(cat "$SO" "$HCONF" | sha256sum | cut -d' ' -f1)
  env "${HTTPD_ENV[@]}" "$HTTPD" -f "$HCONF" -t >/dev/null 2>"$VAR/httpd/configtest.log" \
    || { cat "$VAR/httpd/configtest.log" >&2; die "httpd configtest failed ($HCONF)"; }
  # A switch between plain and SANITIZE builds needs a fresh parent process
  # (the sanitizer runtimes are preloaded at its start).
  if [[ "$(cat "$VAR/httpd/.mode" 2>/dev/null)" != "${SANITIZE:-}" ]] && httpd_pid >/dev/null; then
    log "SANITIZE changed: restarting httpd"
    stop_httpd
  fi
  printf '%s\n' "${SANITIZE:-}" >"$VAR/httpd/.mode"
  if pid=$(httpd_pid); then
    if [[ "$(cat "$VAR/httpd/.stamp" 2>/dev/null)" != "$stamp" ]]; then
      log "module or config changed: graceful restart of httpd ($pid)"
      env "${HTTPD_ENV[@]}" "$HTTPD" -f "$HCONF" -k graceful
    else
      log "httpd already running ($pid)"
    fi
  else
    for p in "$HTTP_PORT" "$HTTPS_PORT"; do
      port_in_use "$p" && die "port $p is taken by another process"
    done
    log "starting httpd on $BASE_URL and $HTTPS_URL"
    env "${HTTPD_ENV[@]}" "$HTTPD" -f "$HCONF" -k start
  fi
  printf '%s\n' "$stamp" >"$VAR/httpd/.stamp"
  wait_httpd
}

wait_httpd() {
  local i code
  for ((i = 0; i < 60; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE_URL/api/v1/health" || true)
    if [[ "$code" != 000 && -n "$code" ]]; then
      log "httpd answers GET /api/v1/health with $code"
      return 0
    fi
    if (( i > 4 )) && ! httpd_pid >/dev/null; then break; fi
    sleep 0.5
  done
  echo "---- tail of $VAR/httpd/error_log" >&2
  tail -n 40 "$VAR/httpd/error_log" >&2 || true
  die "httpd did not answer on $BASE_URL within 30 s"
}

stop_httpd() {
  local pid i
  if pid=$(httpd_pid); then
    log "stopping httpd ($pid)"
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then warn "httpd ($pid) did not stop in 10 s"; kill -KILL "$pid"; fi
  fi
}

# --- env file --------------------------------------------------------------------------
write_env() {
  local whsec
  whsec=$(<"$VAR/stripe_webhook_secret")
  {
    printf "WEBOT_BASE_URL='%s'\n" "$BASE_URL"
    printf "WEBOT_HTTPS_URL='%s'\n" "$HTTPS_URL"
    printf "WEBOT_DB='%s'\n" "$CONNINFO"
    printf "WEBOT_STRIPE_WEBHOOK_SECRET='%s'\n" "$whsec"
    if [[ -n "${DEMO_API_KEY:-}" ]]; then
      printf "WEBOT_DEMO_API_KEY='%s'\n" "$DEMO_API_KEY"
      printf "WEBOT_OWNER_EMAIL='%s'\n" "$DEMO_EMAIL"
      printf "WEBOT_OWNER_PASSWORD='%s'\n" "$DEMO_PASSWORD"
    fi
  } >"$ENVFILE.new"
  chmod 0600 "$ENVFILE.new"
  mv "$ENVFILE.new" "$ENVFILE"
}

cmd_start() {
  mkdir -p "$VAR"
  make_traversable "$VAR/x"
  chmod 0755 "$VAR"
  start_pg
  make_secrets
  demo_account
  start_httpd
  write_env
  echo
  echo "mod_webot dev servers are up ($ENVFILE):"
  cat "$ENVFILE"
  echo
  echo "webotctl:   $CTL --db '$CONNINFO' ...   (or: set -a; . $ENVFILE; set +a)"
  echo "logs:       $VAR/httpd/error_log, $VAR/httpd/access_log, $PGDATA_DIR/server.log"
  echo "stop with:  make stop"
}

cmd_stop() {
  stop_httpd
  if [[ -s "$PGDATA_DIR/PG_VERSION" ]] && pg_cluster_running "$PGDATA_DIR"; then
    log "stopping PostgreSQL"
    pg_cluster_stop "$PGDATA_DIR"
  fi
}

cmd_status() {
  local pid
  if pid=$(httpd_pid); then echo "httpd: running ($pid) on $BASE_URL, $HTTPS_URL"; else echo "httpd: stopped"; fi
  if [[ -s "$PGDATA_DIR/PG_VERSION" ]] && pg_cluster_running "$PGDATA_DIR"; then
    echo "postgresql: running on 127.0.0.1:$PG_PORT ($PGDATA_DIR)"
  else
    echo "postgresql: stopped"
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cat "$ENVFILE" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
