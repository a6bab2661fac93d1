#!/usr/bin/env bash
# bench/run.sh: GET /api/v1/catalog against the same JSON bytes served as a
# static file by the same httpd, in one run (`make bench` calls it; it does
# not need make otherwise).
#
#   1. starts the dev servers (`make run`: PostgreSQL + httpd on :8080);
#   2. fetches GET /api/v1/catalog and writes exactly those bytes to
#      var/httpd/htdocs/static/api-catalog.json (checked with cmp);
#   3. for each round: wrk on the static file and on the route (order
#      alternates between rounds), each after an unreported warm-up;
#   4. prints requests/s and p99 of both, and their ratio (target >= 0.9).
#
# Knobs (environment): ROUNDS (2), DURATION (10 s), WARMUP (2 s), THREADS (2),
#   CONNECTIONS (32), BENCH_BASE_URL (from var/webot.env, else
#   http://127.0.0.1:8080), BENCH_NO_RUN=1 (do not call `make run`: bench a
#   server that is already up), BENCH_STRICT=1 (exit 1 when the ratio misses
#   the target). Raw wrk output goes to var/bench/<time>/.
# Only loopback targets are accepted.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
TARGET=0.9

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for v in ROUNDS DURATION WARMUP THREADS CONNECTIONS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
(( DURATION >= 1 && DURATION <= 60 )) || die "DURATION must be 1..60 s"

if ! command -v wrk >/dev/null; then
  [[ $(id -u) -eq 0 ]] || die "wrk is not installed (apt-get install wrk)"
  log "installing wrk"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; } \
    || die "cannot install wrk"
fi

# --- the dev server -------------------------------------------------------------
if [[ "${BENCH_NO_RUN:-0}" != 1 ]]; then
  log "make run"
  make -C "$TOP" --no-print-directory run >/dev/null
fi
BASE=${BENCH_BASE_URL:-}
if [[ -z "$BASE" && -r "$TOP/var/webot.env" ]]; then
  BASE=$(sed -n "s/^WEBOT_BASE_URL='\{0,1\}\([^']*\)'\{0,1\}$/\1/p" "$TOP/var/webot.env")
fi
BASE=${BASE:-http://127.0.0.1:8080}
case "$BASE" in
  http://127.*|http://localhost*|http://\[::1\]*) ;;
  *) die "refusing to load-test $BASE (loopback only)" ;;
esac

API_URL=$BASE/api/v1/catalog
DOCROOT=$TOP/var/httpd/htdocs
STATIC_REL=static/api-catalog.json
STATIC_URL=$BASE/$STATIC_REL
OUT=${BENCH_OUT:-$TOP/var/bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT" "$DOCROOT/static"

# the same bytes: what the route serves, as a file of the same server
curl -fsS -o "$OUT/api.json" "$API_URL" || die "GET $API_URL failed"
install -m 0644 "$OUT/api.json" "$DOCROOT/$STATIC_REL"
curl -fsS -o "$OUT/static.json" "$STATIC_URL" || die "GET $STATIC_URL failed (DocumentRoot $DOCROOT?)"
cmp -s "$OUT/api.json" "$OUT/static.json" || die "the static file does not serve the same bytes"
BYTES=$(stat -c %s "$OUT/api.json")
log "body: $BYTES bytes, identical from $API_URL and $STATIC_URL"
{
  echo "# GET $API_URL"; curl -sS -D - -o /dev/null "$API_URL"
  echo "# GET $STATIC_URL"; curl -sS -D - -o /dev/null "$STATIC_URL"
} >"$OUT/headers.txt" 2>&1

# --- measurements ------------------------------------------------------------------
# run_wrk NAME URL -> prints "rps p99_ms" and keeps wrk's output
run_wrk() {
  local name=$1 url=$2 line
  if (( WARMUP > 0 )); then
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
  fi
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency \
      -s "$TOP/bench/report.lua" "$url" >"$OUT/$name.txt" 2>&1 \
    || { cat "$OUT/$name.txt" >&2; die "wrk failed on $url"; }
  line=$(grep '^BENCH ' "$OUT/$name.txt") || { cat "$OUT/$name.txt" >&2; die "no result from wrk"; }
  local non2xx sockerr
  non2xx=$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line")
  sockerr=$(sed -n 's/.* sockerr=\([0-9]*\).*/\1/p' <<<"$line")
  (( non2xx == 0 )) || die "$name: $non2xx answers were not 2xx/3xx (see $OUT/$name.txt)"
  (( sockerr == 0 )) || log "$name: $sockerr socket errors (see $OUT/$name.txt)"
  printf '%s %s\n' "$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")" \
                   "$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
}

declare -a S_RPS S_P99 A_RPS A_P99
for ((i = 1; i <= ROUNDS; i++)); do
  if (( i % 2 )); then order=(static api); else order=(api static); fi
  for what in "${order[@]}"; do
    if [[ $what == static ]]; then
      res=$(run_wrk "static-$i" "$STATIC_URL"); read -r rps p99 <<<"$res"
      S_RPS+=("$rps"); S_P99+=("$p99")
      log "round $i static file:          $rps req/s, p99 $p99 ms"
    else
      res=$(run_wrk "catalog-$i" "$API_URL"); read -r rps p99 <<<"$res"
      A_RPS+=("$rps"); A_P99+=("$p99")
      log "round $i GET /api/v1/catalog:  $rps req/s, p99 $p99 ms"
    fi
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
s_rps=$(median "${S_RPS[@]}"); s_p99=$(median "${S_P99[@]}")
a_rps=$(median "${A_RPS[@]}"); a_p99=$(median "${A_P99[@]}")
ratio=$(awk -v a="$a_rps" -v s="$s_rps" 'BEGIN { printf "%.3f", a / s }')
p99_ratio=$(awk -v a="$a_p99" -v s="$s_p99" 'BEGIN { printf "%.2f", (s > 0) ? a / s : 0 }')
verdict=$(awk -v r="$ratio" -v t="$TARGET" 'BEGIN { print (r >= t) ? "meets" : "MISSES" }')

{
  echo "mod_webot bench: GET /api/v1/catalog vs the same $BYTES bytes as a static file"
  echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s after ${WARMUP}s warm-up, $ROUNDS round(s), medians"
  printf '%-24s %12s %10s\n' "" "requests/s" "p99 ms"
  printf '%-24s %12s %10s\n' "static file" "$s_rps" "$s_p99"
  printf '%-24s %12s %10s\n' "GET /api/v1/catalog" "$a_rps" "$a_p99"
  printf 'ratio catalog/static: %s requests/s (target >= %s: %s), p99 x%s\n' \
         "$ratio" "$TARGET" "$verdict" "$p99_ratio"
  echo "rounds: static ${S_RPS[*]} | catalog ${A_RPS[*]}"
  echo "raw output: $OUT"
} | tee "$OUT/summary.txt"
printf 'static_rps=%s\nstatic_p99=%s\ncatalog_rps=%s\ncatalog_p99=%s\n' \
  "$s_rps" "$s_p99" "$a_rps" "$a_p99" >"$OUT/results.env"

if [[ "${BENCH_STRICT:-0}" == 1 && $verdict != meets ]]; then
  exit 1
fi
