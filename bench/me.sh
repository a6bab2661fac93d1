#!/usr/bin/env bash
# bench/me.sh: GET /api/v1/me with an API key against a static file of the
# same httpd (the /me body itself, saved as var/httpd/htdocs/static/me.json)
# and, with PEER=1, against the Fastify + node-postgres peer of
# ../shared/bench (same key lookup: sha256 -> one SELECT), in one run.
#
#   bench/me.sh                  dev server (make run), static file, /me
#   PEER=1 bench/me.sh           ... and the peer (copied to var/bench/peer,
#                                npm ci there once; its own PostgreSQL on
#                                127.0.0.1:55433, Fastify on 127.0.0.1:18091)
#
# The key belongs to a bench account ("Bench me", Both plan, manual grant
# with --rate-limit-per-minute 10000000 so that the limiter counts but never
# refuses), kept in var/bench-me.env (mode 0600) and reused while it works.
# Every round runs wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s after a
# ${WARMUP}s warm-up on each target, the order rotating between rounds; the
# summary gives medians, the ratios (targets: /me >= 0.6 x static, >= 1.2 x
# peer, p99 <= peer's) and how many database sessions the /me runs opened
# (pg_stat_database.sessions: a few, not one per request).
#
# Knobs: ROUNDS (2), DURATION (10), WARMUP (2), THREADS (2), CONNECTIONS (32),
#   PEER (0), PEER_SRC (../shared/bench), BENCH_NO_RUN=1 (server already up),
#   BENCH_STRICT=1 (exit 1 when a target is missed). Raw output:
#   var/bench/me-<time>/. Loopback targets only.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$TOP/bench/lib.sh"
bench_http_init me
PEER_PORT=18091
PEER_PG_PORT=55433
PEER_PG_DATA=/tmp/webot-me-peer-pg

# --- the dev server and its bench key ------------------------------------------
if [[ "${BENCH_NO_RUN:-0}" != 1 ]]; then
  log "make run"
  make -C "$TOP" --no-print-directory run >/dev/null
fi
[[ -r "$TOP/var/webot.env" ]] || die "var/webot.env is missing (make run)"
# shellcheck disable=SC1091
set -a; . "$TOP/var/webot.env"; set +a
BASE=${WEBOT_BASE_URL:-http://127.0.0.1:8080}
case "$BASE" in
  http://127.*|http://localhost*) ;;
  *) die "refusing to load-test $BASE (loopback only)" ;;
esac
ENVF=$TOP/var/bench-me.env

key_ok() {
  local hdr
  hdr=$(curl -s -o /dev/null -D - -H "Authorization: Bearer $1" "$BASE/api/v1/me") || return 1
  grep -q '^HTTP/[0-9.]* 200' <<<"$hdr" && grep -qi '^RateLimit-Policy: "minute";q=10000000;' <<<"$hdr"
}

ME_KEY=""
if [[ -s "$ENVF" ]]; then
  ME_KEY=$(sed -n "s/^BENCH_ME_KEY='\([A-Za-z0-9_]*\)'$/\1/p" "$ENVF")
fi
if [[ -z "$ME_KEY" ]] || ! key_ok "$ME_KEY"; then
  log "creating the bench account (Both plan, 10,000,000 requests per minute)"
  read -r acct ME_KEY < <(bench_account "$WEBOT_DB" "Bench me" "--scopes account:read" \
    --rate-limit-per-minute 10000000) || true
  [[ -n "${ME_KEY:-}" ]] || die "could not create the bench account"
  ( umask 077; printf "BENCH_ME_ACCOUNT='%s'\nBENCH_ME_KEY='%s'\n" "$acct" "$ME_KEY" >"$ENVF" )
  key_ok "$ME_KEY" || die "the new bench key does not work on $BASE/api/v1/me"
fi

OUT=${BENCH_OUT:-$TOP/var/bench/me-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT" "$TOP/var/httpd/htdocs/static"
ME_URL=$BASE/api/v1/me
STATIC_URL=$BASE/static/me.json
curl -fsS -o "$OUT/me.json" -H "Authorization: Bearer $ME_KEY" "$ME_URL" || die "GET $ME_URL failed"
install -m 0644 "$OUT/me.json" "$TOP/var/httpd/htdocs/static/me.json"
curl -fsS -o "$OUT/static.json" "$STATIC_URL" || die "GET $STATIC_URL failed"
cmp -s "$OUT/me.json" "$OUT/static.json" || die "the static file does not serve the /me bytes"
log "body: $(stat -c %s "$OUT/me.json") bytes from $ME_URL and $STATIC_URL"
{ echo "# GET $ME_URL"; curl -sS -D - -o /dev/null -H "Authorization: Bearer $ME_KEY" "$ME_URL"
  echo "# GET $STATIC_URL"; curl -sS -D - -o /dev/null "$STATIC_URL"; } >"$OUT/headers.txt" 2>&1

# --- the peer (optional) ---------------------------------------------------------
if [[ "$PEER" == 1 ]]; then
  trap bench_peer_stop EXIT
  bench_peer_start
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $PEER_KEY" "http://127.0.0.1:$PEER_PORT/api/v1/me")
  [[ "$code" == 200 ]] || die "peer GET /api/v1/me: $code"
fi

# --- measurements ------------------------------------------------------------------
sessions() { psql -X -tAq -d "$WEBOT_DB" -c "SELECT sessions FROM pg_stat_database WHERE datname = current_database()" 2>/dev/null || echo 0; }

targets=(static me)
[[ "$PEER" == 1 ]] && targets+=(peer)
declare -A RPS P99
ME_SESSIONS=0 ME_REQUESTS=0
for ((i = 1; i <= ROUNDS; i++)); do
  n=${#targets[@]}
  for ((j = 0; j < n; j++)); do
    t=${targets[$(( (i - 1 + j) % n ))]}
    case $t in
      static) res=$(bench_wrk "static-$i" "$STATIC_URL" me.lua ME_KEY=) ;;
      me) s0=$(sessions)
          res=$(bench_wrk "me-$i" "$ME_URL" me.lua ME_KEY="$ME_KEY")
          s1=$(sessions)
          ME_SESSIONS=$(( ME_SESSIONS + s1 - s0 ))
          ME_REQUESTS=$(( ME_REQUESTS + $(sed -n 's/^BENCH requests=\([0-9]*\).*/\1/p' "$OUT/me-$i.txt") )) ;;
      peer) res=$(bench_wrk "peer-$i" "http://127.0.0.1:$PEER_PORT/api/v1/me" me.lua ME_KEY="$PEER_KEY") ;;
    esac
    read -r rps p99 <<<"$res"
    RPS[$t]="${RPS[$t]:-} $rps"; P99[$t]="${P99[$t]:-} $p99"
    log "round $i $(printf '%-8s' "$t") $rps req/s, p99 $p99 ms"
    sleep 1
  done
done

s_rps=$(bench_median ${RPS[static]}); s_p99=$(bench_median ${P99[static]})
m_rps=$(bench_median ${RPS[me]}); m_p99=$(bench_median ${P99[me]})
miss=0
{
  echo "mod_webot bench: GET /api/v1/me (API key) on $BASE"
  echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s after ${WARMUP}s warm-up, $ROUNDS round(s), medians"
  printf '%-28s %12s %10s\n' "" "requests/s" "p99 ms"
  printf '%-28s %12s %10s\n' "static file (same bytes)" "$s_rps" "$s_p99"
  printf '%-28s %12s %10s\n' "GET /api/v1/me" "$m_rps" "$m_p99"
  r=$(bench_ratio "$m_rps" "$s_rps")
  v=$(awk -v r="$r" 'BEGIN { print (r >= 0.6) ? "meets" : "MISSES" }'); [[ $v == meets ]] || miss=1
  echo "me/static: $r (target >= 0.6: $v)"
  if [[ "$PEER" == 1 ]]; then
    p_rps=$(bench_median ${RPS[peer]}); p_p99=$(bench_median ${P99[peer]})
    printf '%-28s %12s %10s\n' "Fastify peer GET /me" "$p_rps" "$p_p99"
    r=$(bench_ratio "$m_rps" "$p_rps")
    v=$(awk -v r="$r" 'BEGIN { print (r >= 1.2) ? "meets" : "MISSES" }'); [[ $v == meets ]] || miss=1
    echo "me/peer: $r (target >= 1.2: $v)"
    v=$(awk -v a="$m_p99" -v b="$p_p99" 'BEGIN { print (a <= b) ? "meets" : "MISSES" }'); [[ $v == meets ]] || miss=1
    echo "p99 me vs peer: $m_p99 vs $p_p99 ms (target: not worse: $v)"
  fi
  echo "database sessions opened during the /me runs: $ME_SESSIONS for $ME_REQUESTS requests"
  echo "rounds: static${RPS[static]} | me${RPS[me]}${RPS[peer]:+ | peer${RPS[peer]}}"
  echo "raw output: $OUT"
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"
{ printf 'static_rps=%s\nstatic_p99=%s\nme_rps=%s\nme_p99=%s\n' "$s_rps" "$s_p99" "$m_rps" "$m_p99"
  if [[ "$PEER" == 1 ]]; then printf 'peer_rps=%s\npeer_p99=%s\n' "$p_rps" "$p_p99"; fi
  printf 'sessions=%s\nrequests=%s\n' "$ME_SESSIONS" "$ME_REQUESTS"; } >"$OUT/results.env"

if [[ "${BENCH_STRICT:-0}" == 1 && $miss == 1 ]]; then
  exit 1
fi
