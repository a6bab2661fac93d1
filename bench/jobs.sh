#!/usr/bin/env bash
# bench/jobs.sh: the jobs API under load, in one run on one server:
#   - POST /api/v1/jobs with a fresh Idempotency-Key per request (every
#     answer must be 201: quota, active limit and rate limit are set out of
#     reach for the bench account) against, with PEER=1, the Fastify +
#     node-postgres peer's POST /api/v1/jobs of ../shared/bench;
#   - GET /api/v1/jobs?limit=20 against a static file of the same httpd
#     holding exactly those bytes (<DocumentRoot>/static/jobs20.json).
#
#   bench/jobs.sh                dev server (make run), static file
#   PEER=1 bench/jobs.sh         ... and the peer (copied to var/bench/peer,
#                                npm ci there once; its own PostgreSQL on
#                                127.0.0.1:55435, Fastify on 127.0.0.1:18093)
#
# Targets (issue 4): POST /jobs >= the peer's rate, p99 < 50 ms, zero non-2xx;
# GET /jobs?limit=20 >= 0.4 x the static file. Every round runs
# wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s after a ${WARMUP}s warm-up on
# each target, the order rotating between rounds; medians are reported.
# The bench account ("Bench jobs", a Both plan with --monthly-jobs,
# --max-active-jobs and --rate-limit-per-minute 10,000,000) and its key are
# kept in var/bench-jobs.env (mode 0600) and reused while they work.
# Durability is the server's as configured (synchronous_commit on).
#
# Knobs: ROUNDS (2), DURATION (10), WARMUP (2), THREADS (2), CONNECTIONS (32),
#   PEER (0), PEER_SRC (../shared/bench), BENCH_NO_RUN=1 (server already up),
#   JOBS_BENCH_URL (default WEBOT_BASE_URL of var/webot.env), JOBS_BENCH_DB (default
#   WEBOT_DB), JOBS_BENCH_DOCROOT (default var/httpd/htdocs, the dev server's
#   DocumentRoot), BENCH_STRICT=1 (exit 1 when a target is missed). Raw output:
#   var/bench/jobs-<time>/. Loopback targets only.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$TOP/bench/lib.sh"
bench_http_init jobs
PEER_PORT=18093
PEER_PG_PORT=55435
PEER_PG_DATA=/tmp/webot-jobs-peer-pg

# --- the server and its bench key ------------------------------------------------
if [[ "${BENCH_NO_RUN:-0}" != 1 ]]; then
  log "make run"
  make -C "$TOP" --no-print-directory run >/dev/null
fi
if [[ -r "$TOP/var/webot.env" ]]; then
  # shellcheck disable=SC1091
  set -a; . "$TOP/var/webot.env"; set +a
fi
BASE=${JOBS_BENCH_URL:-${WEBOT_BASE_URL:-http://127.0.0.1:8080}}
DB=${JOBS_BENCH_DB:-${WEBOT_DB:-}}
[[ -n "$DB" ]] || die "no database (var/webot.env or JOBS_BENCH_DB)"
case "$BASE" in
  http://127.*|http://localhost*) ;;
  *) die "refusing to load-test $BASE (loopback only)" ;;
esac
ENVF=$TOP/var/bench-jobs.env
JOB_BODY='{"service_option":"tone_rewrites_copy_polish","title":"Spring launch email","intake":{"audience":"Existing customers, spring sale","brand_constraints":"No exclamation marks","tone":"Warm, confident","delivery_format":"Plain text email"},"metadata":{"crm_id":"123"}}'
export JOB_BODY

post_once() {   # post_once URL KEY -> HTTP status
  curl -s -o /dev/null -w '%{http_code}' -X POST "$1/api/v1/jobs" -H "Authorization: Bearer $2" \
    -H 'Content-Type: application/json' -H "Idempotency-Key: bench-smoke-$(date +%s%N)" -d "$JOB_BODY"
}
key_ok() {
  local hdr
  hdr=$(curl -s -o /dev/null -D - -H "Authorization: Bearer $1" "$BASE/api/v1/jobs?limit=1") || return 1
  grep -q '^HTTP/[0-9.]* 200' <<<"$hdr" && grep -qi '^RateLimit-Policy: "minute";q=10000000;' <<<"$hdr"
}

JOBS_KEY=""
mkdir -p "$TOP/var"
if [[ -s "$ENVF" ]]; then
  JOBS_KEY=$(sed -n "s/^BENCH_JOBS_KEY='\([A-Za-z0-9_]*\)'$/\1/p" "$ENVF")
fi
if [[ -z "$JOBS_KEY" ]] || ! key_ok "$JOBS_KEY"; then
  log "creating the bench account (Both plan, limits 10,000,000)"
  read -r acct JOBS_KEY < <(bench_account "$DB" "Bench jobs" "" --monthly-jobs 10000000 \
    --max-active-jobs 10000000 --rate-limit-per-minute 10000000) || true
  [[ -n "${JOBS_KEY:-}" ]] || die "could not create the bench account"
  ( umask 077; printf "BENCH_JOBS_ACCOUNT='%s'\nBENCH_JOBS_KEY='%s'\n" "$acct" "$JOBS_KEY" >"$ENVF" )
  key_ok "$JOBS_KEY" || die "the new bench key does not work on $BASE/api/v1/jobs"
fi
code=$(post_once "$BASE" "$JOBS_KEY")
[[ "$code" == 201 ]] || die "POST $BASE/api/v1/jobs: expected 201, got $code"

OUT=${BENCH_OUT:-$TOP/var/bench/jobs-$(date -u +%Y%m%dT%H%M%SZ)}
DOCROOT=${JOBS_BENCH_DOCROOT:-$TOP/var/httpd/htdocs}
mkdir -p "$OUT" "$DOCROOT/static"
for _ in $(seq 25); do post_once "$BASE" "$JOBS_KEY" >/dev/null; done
LIST_URL="$BASE/api/v1/jobs?limit=20"
STATIC_URL=$BASE/static/jobs20.json
curl -fsS -o "$OUT/list.json" -H "Authorization: Bearer $JOBS_KEY" "$LIST_URL" || die "GET $LIST_URL failed"
install -m 0644 "$OUT/list.json" "$DOCROOT/static/jobs20.json"
curl -fsS -o "$OUT/static.json" "$STATIC_URL" || die "GET $STATIC_URL failed (is var/httpd/htdocs the DocumentRoot?)"
cmp -s "$OUT/list.json" "$OUT/static.json" || die "the static file does not serve the list's bytes"
log "list body: $(stat -c %s "$OUT/list.json") bytes from $LIST_URL and $STATIC_URL"

# --- the peer (optional) -----------------------------------------------------------
if [[ "$PEER" == 1 ]]; then
  trap bench_peer_stop EXIT
  bench_peer_start
  code=$(post_once "http://127.0.0.1:$PEER_PORT" "$PEER_KEY")
  [[ "$code" == 201 ]] || die "peer POST /api/v1/jobs: $code"
fi

# --- measurements ------------------------------------------------------------------

targets=(post static list)
[[ "$PEER" == 1 ]] && targets+=(peer)
declare -A RPS P99
for ((i = 1; i <= ROUNDS; i++)); do
  n=${#targets[@]}
  for ((j = 0; j < n; j++)); do
    t=${targets[$(( (i - 1 + j) % n ))]}
    case $t in
      post)   res=$(bench_wrk "post-$i" "$BASE/api/v1/jobs" jobs-post.lua JOBS_KEY="$JOBS_KEY") ;;
      peer)   res=$(bench_wrk "peer-$i" "http://127.0.0.1:$PEER_PORT/api/v1/jobs" jobs-post.lua JOBS_KEY="$PEER_KEY") ;;
      list)   res=$(bench_wrk "list-$i" "$LIST_URL" jobs-get.lua JOBS_KEY="$JOBS_KEY") ;;
      static) res=$(bench_wrk "static-$i" "$STATIC_URL" jobs-get.lua JOBS_KEY=) ;;
    esac
    read -r rps p99 <<<"$res"
    RPS[$t]="${RPS[$t]:-} $rps"; P99[$t]="${P99[$t]:-} $p99"
    log "round $i $(printf '%-7s' "$t") $rps req/s, p99 $p99 ms"
    sleep 1
  done
done

verdict() { awk -v c="$1" 'BEGIN { print c ? "meets" : "MISSES" }'; }
# shellcheck disable=SC2086
{ po_rps=$(bench_median ${RPS[post]}); po_p99=$(bench_median ${P99[post]})
  li_rps=$(bench_median ${RPS[list]}); li_p99=$(bench_median ${P99[list]})
  st_rps=$(bench_median ${RPS[static]}); st_p99=$(bench_median ${P99[static]}); }
miss=0
{
  echo "mod_webot bench: jobs API on $BASE"
  echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s after ${WARMUP}s warm-up, $ROUNDS round(s), medians"
  printf '%-34s %12s %10s\n' "" "requests/s" "p99 ms"
  printf '%-34s %12s %10s\n' "POST /api/v1/jobs (fresh keys)" "$po_rps" "$po_p99"
  if [[ "$PEER" == 1 ]]; then
    # shellcheck disable=SC2086
    pe_rps=$(bench_median ${RPS[peer]}); pe_p99=$(bench_median ${P99[peer]})
    printf '%-34s %12s %10s\n' "Fastify peer POST /api/v1/jobs" "$pe_rps" "$pe_p99"
  fi
  printf '%-34s %12s %10s\n' "GET /api/v1/jobs?limit=20" "$li_rps" "$li_p99"
  printf '%-34s %12s %10s\n' "static file (same bytes)" "$st_rps" "$st_p99"
  if [[ "$PEER" == 1 ]]; then
    r=$(bench_ratio "$po_rps" "$pe_rps"); v=$(verdict "$(awk -v r="$r" 'BEGIN{print (r >= 1.0)}')")
    [[ $v == meets ]] || miss=1
    echo "POST /jobs vs peer: $r (target >= 1.0: $v)"
  fi
  v=$(verdict "$(awk -v a="$po_p99" 'BEGIN{print (a < 50)}')"); [[ $v == meets ]] || miss=1
  echo "POST /jobs p99: $po_p99 ms (target < 50 ms: $v)"
  r=$(bench_ratio "$li_rps" "$st_rps"); v=$(verdict "$(awk -v r="$r" 'BEGIN{print (r >= 0.4)}')")
  [[ $v == meets ]] || miss=1
  echo "list/static: $r (target >= 0.4: $v)"
  echo "non-2xx answers: 0 (checked on every run)"
  echo "rounds: post${RPS[post]} | list${RPS[list]} | static${RPS[static]}${RPS[peer]:+ | peer${RPS[peer]}}"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "raw output: $OUT"
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"
{ printf 'post_rps=%s\npost_p99=%s\nlist_rps=%s\nlist_p99=%s\nstatic_rps=%s\nstatic_p99=%s\n' \
    "$po_rps" "$po_p99" "$li_rps" "$li_p99" "$st_rps" "$st_p99"
  if [[ "$PEER" == 1 ]]; then printf 'peer_rps=%s\npeer_p99=%s\n' "$pe_rps" "$pe_p99"; fi; } >"$OUT/results.env"

if [[ "${BENCH_STRICT:-0}" == 1 && $miss == 1 ]]; then
  exit 1
fi
