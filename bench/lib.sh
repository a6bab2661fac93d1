# bench/lib.sh: helpers the bench scripts share (sourced, after TOP is set).

# bench_json_get FIELD < JSON: one top-level field of a JSON object.
bench_json_get() {
  perl -MJSON::PP -e 'my $f = shift; local $/; print JSON::PP->new->decode(<STDIN>)->{$f} // ""' "$1"
}

# bench_account DB NAME KEY_OPTS GRANT_OPTS...: a new account on the first
# plan of conf/catalog.json that has both api and dashboard access, granted
# with GRANT_OPTS (e.g. --rate-limit-per-minute 10000000), and a key made
# with KEY_OPTS (a single word list, "" for none). Prints "ACCOUNT KEY".
bench_account() {
  local db=$1 name=$2 key_opts=$3 ctl=${WEBOT_BUILD_DIR:-$TOP/build}/webotctl plan acct key
  shift 3
  plan=$(perl -MJSON::PP -e 'local $/; open my $f, "<", shift or exit 1; my $c = JSON::PP->new->decode(<$f>);
    for (@{ $c->{plans} }) { my %a = map { $_ => 1 } @{ $_->{access} }; if ($a{api} && $a{dashboard}) { print $_->{id}; exit } }
    exit 1' "$TOP/conf/catalog.json") || { echo "no plan with api and dashboard in conf/catalog.json" >&2; return 1; }
  acct=$("$ctl" --db "$db" --json account create --name "$name" | bench_json_get id)
  [[ -n "$acct" ]] || return 1
  "$ctl" --db "$db" --json entitlement grant --account "$acct" --plan "$plan" "$@" >/dev/null || return 1
  # shellcheck disable=SC2086
  key=$("$ctl" --db "$db" --json key create --account "$acct" --name "$name" $key_opts | bench_json_get key)
  [[ -n "$key" ]] || return 1
  printf '%s %s\n' "$acct" "$key"
}

# bench_httpd_conf VAR DIR PORT SSL_PORT WITH_MODULE(1|0) > CONF: the dev
# configuration (VAR/httpd/httpd.conf) moved to DIR (pid file, run dir,
# logs, file store) and to PORT/SSL_PORT, with ONE child of 25 threads that
# lives for the whole run; WITH_MODULE 0 drops mod_webot's LoadModule and
# every line that names it (its directives outside <IfDirective>, its
# SetHandlers, its Mutex types).
bench_httpd_conf() {
  perl -pe '
    BEGIN { ($V, $D, $P, $PS, $W) = @ARGV[0..4]; splice @ARGV, 0, 5 }
    s{"\Q$V\E/httpd/run/httpd.pid"}{"$D/httpd.pid"};
    s{\Q$V\E/httpd/run}{$D/run}g;
    s{"\Q$V\E/httpd/error_log"}{"$D/error_log"};
    s{"\Q$V\E/httpd/access_log"}{"$D/access_log"};
    s{127\.0\.0\.1:8080\b}{127.0.0.1:$P}g;
    s{127\.0\.0\.1:8443\b}{127.0.0.1:$PS}g;
    s{WebotFileStore\s+"[^"]*"}{WebotFileStore "$D/files"};
    s{^(\s*StartServers\s+)\d+}{${1}1};
    s{^(\s*ServerLimit\s+)\d+}{${1}1};
    s{^(\s*MaxRequestWorkers\s+)\d+}{${1}25};
    s{^(\s*MaxConnectionsPerChild\s+)\d+}{${1}0};
    $_ = "" if !$W && (/^\s*LoadModule\s+webot_module\b/ || /^\s*Webot\w+\s/ || /SetHandler\s+webot-/
                       || /^\s*Mutex\s+\S+\s+webot-/);
    $seen_mcpc ||= /^\s*MaxConnectionsPerChild\s/;
    $_ .= "MaxConnectionsPerChild 0\n" if eof && !$seen_mcpc;
  ' "$1" "$2" "$3" "$4" "$5" "$1/httpd/httpd.conf"
}

# bench_median N... : the median of the numbers given as arguments.
bench_median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR) print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'
}
# bench_ratio A B: A / B with two decimals (0 when B is 0).
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

# bench_wrk NAME URL SCRIPT [VAR=VALUE...] -> "rps p99_ms": wrk
# -t$THREADS -c$CONNECTIONS with bench/SCRIPT (which prints bench/report.lua's
# BENCH line) after a ${WARMUP}s warm-up, the environment extended with the
# VAR=VALUE pairs and RUN_ID (unique per run); the full output in
# $OUT/NAME.txt. Dies unless every answer was 2xx.
bench_wrk() {
  local name=$1 url=$2 script=$3 line non2xx
  shift 3
  if (( WARMUP > 0 )); then
    env "$@" RUN_ID="w$name-$(date +%s%N)" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" \
      -s "$TOP/bench/$script" "$url" >/dev/null 2>&1 || true
  fi
  env "$@" RUN_ID="$name-$(date +%s%N)" timeout 40 wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
      --timeout 5s --latency -s "$TOP/bench/$script" "$url" >"$OUT/$name.txt" 2>&1 \
    || { cat "$OUT/$name.txt" >&2; die "wrk failed on $url"; }
  line=$(grep '^BENCH ' "$OUT/$name.txt") || { cat "$OUT/$name.txt" >&2; die "no result from wrk"; }
  non2xx=$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line")
  (( non2xx == 0 )) || die "$name: $non2xx answers were not 2xx (see $OUT/$name.txt)"
  printf '%s %s\n' "$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")" \
                   "$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
}

# The Fastify + node-postgres peer of ../shared/bench, run unchanged from a
# copy in var/bench/peer (npm ci there once), with its own PostgreSQL.
# Set first: PEER_SRC, PEER_PORT, PEER_PG_PORT, PEER_PG_DATA, OUT.
# bench_peer_start sets PEER_PID and PEER_KEY (the key of its account 1);
# bench_peer_stop (call it from an EXIT trap) stops both.
PEER_PID="" PEER_KEY=""
bench_peer_start() {
  local dir=$TOP/var/bench/peer
  [[ -f "$PEER_SRC/peer-fastify/server.mjs" ]] || die "no peer in $PEER_SRC (set PEER_SRC)"
  if [[ ! -d "$dir" ]]; then
    mkdir -p "$(dirname "$dir")"
    cp -r "$PEER_SRC" "$dir" && chmod -R u+w "$dir"
    rm -rf "$dir/node_modules" "$dir/results"
  fi
  if [[ ! -d "$dir/node_modules/fastify" ]]; then
    log "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund >"$OUT/npm.log" 2>&1) || { tail "$OUT/npm.log" >&2; die "npm ci failed"; }
  fi
  BENCH_PG_DATA=$PEER_PG_DATA BENCH_PG_PORT=$PEER_PG_PORT "$dir/pg.sh" start >"$OUT/peer-pg.log" 2>&1 \
    || { cat "$OUT/peer-pg.log" >&2; die "peer PostgreSQL did not start"; }
  PEER_KEY=$(BENCH_PG_DATA=$PEER_PG_DATA BENCH_PG_PORT=$PEER_PG_PORT "$dir/pg.sh" key 1)
  curl -s -o /dev/null -m 1 "http://127.0.0.1:$PEER_PORT/" && die "127.0.0.1:$PEER_PORT is taken"
  BENCH_PG_DATA=$PEER_PG_DATA BENCH_PG_PORT=$PEER_PG_PORT PORT=$PEER_PORT \
    DATABASE_URL=postgres://postgres@127.0.0.1:$PEER_PG_PORT/bench \
    "$dir/peer-fastify.sh" serve >"$OUT/peer.log" 2>&1 &
  PEER_PID=$!
  for _ in $(seq 200); do grep -q '^READY' "$OUT/peer.log" 2>/dev/null && break; sleep 0.1; done
  grep -q '^READY' "$OUT/peer.log" || { cat "$OUT/peer.log" >&2; die "the peer did not start"; }
  log "peer: $(grep '^READY' "$OUT/peer.log")"
}
bench_peer_stop() {
  local dir=$TOP/var/bench/peer
  if [[ -n "$PEER_PID" ]] && kill -0 "$PEER_PID" 2>/dev/null; then
    kill -TERM "$PEER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PEER_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [[ -x "$dir/pg.sh" ]]; then
    BENCH_PG_DATA=$PEER_PG_DATA BENCH_PG_PORT=$PEER_PG_PORT "$dir/pg.sh" stop >/dev/null 2>&1 || true
  fi
}

# bench_http_init NAME: what bench/NAME.sh (an HTTP comparison) starts with:
# log and die (messages prefixed bench/NAME), the knobs ROUNDS (2), DURATION
# (10, at most 15), WARMUP (2), THREADS (2), CONNECTIONS (32), PEER (0) and
# PEER_SRC (../shared/bench) with their defaults and checks, and wrk.
bench_http_init() {
  BENCH_NAME=$1
  log() { printf '==> %s\n' "$*" >&2; }
  die() { printf 'bench/%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }
  ROUNDS=${ROUNDS:-2} DURATION=${DURATION:-10} WARMUP=${WARMUP:-2}
  THREADS=${THREADS:-2} CONNECTIONS=${CONNECTIONS:-32}
  PEER=${PEER:-0} PEER_SRC=${PEER_SRC:-$TOP/../shared/bench}
  local v
  for v in ROUNDS DURATION WARMUP THREADS CONNECTIONS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
  done
  (( DURATION >= 1 && DURATION <= 15 )) || die "DURATION must be 1..15 s"
  command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
}
