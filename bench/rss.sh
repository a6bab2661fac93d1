#!/usr/bin/env bash
# bench/rss.sh: memory of one httpd child with mod_webot loaded and without
# it, each after 100,000 requests (a child that keeps growing leaks).
#
#   bench/rss.sh               (as root: httpd starts as root, children as
#                               www-data; `make run` must have been run)
#
# Two httpd instances are started from the dev configuration
# (var/httpd/httpd.conf), moved to free ports, with ONE child of 25 threads
# and MaxConnectionsPerChild 0 (the same process serves everything):
#   with:    the configuration as it is (module, mod_dbd pool, worker on);
#            REQUESTS requests with the demo account's key, split over
#            GET /api/v1/me (access gate, database), GET /api/v1/catalog
#            (no database) and GET /api/v1/jobs?limit=20 (a list query and
#            its JSON), in batches of ab -k -c 16;
#   without: the same file minus the LoadModule of mod_webot and everything
#            that names it; REQUESTS requests for a static file.
# The child's VmRSS is read after a warm-up of WARMUP_REQUESTS requests
# (pools, connections and caches at their working size) and again after
# REQUESTS more; the growth between the two is the figure that matters.
# Prints RESULT lines and keeps the output in $OUT.
# Knobs: REQUESTS (100000), WARMUP_REQUESTS (10000), OUT.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$TOP/scripts/lib.sh"
source "$TOP/bench/lib.sh"

REQUESTS=${REQUESTS:-100000}
WARMUP_REQUESTS=${WARMUP_REQUESTS:-10000}
OUT=${OUT:-$TOP/var/bench/rss-$(date -u +%Y%m%dT%H%M%SZ)}
[[ "$REQUESTS" =~ ^[0-9]+$ && "$WARMUP_REQUESTS" =~ ^[0-9]+$ ]] || die "REQUESTS and WARMUP_REQUESTS are whole numbers"
[[ $(id -u) == 0 ]] || die "run as root (httpd starts as root, children as www-data)"
command -v ab >/dev/null || die "ab is not installed (apt-get install apache2-utils)"
[[ -r "$TOP/var/webot.env" && -r "$TOP/var/httpd/httpd.conf" ]] || die "make run first"
set -a; source "$TOP/var/webot.env"; set +a
mkdir -p "$OUT"

# A key of its own, on an account whose rate limit is out of reach (the demo
# key's plan would answer 429 long before 100,000 requests), with 20 jobs.
read -r acct KEY < <(bench_account "$WEBOT_DB" "Bench rss" "" --monthly-jobs 1000 \
  --max-active-jobs 1000 --rate-limit-per-minute 10000000) || true
[[ -n "${KEY:-}" ]] || die "could not create the bench key"
for i in $(seq 20); do
  curl -fsS -o /dev/null "${WEBOT_BASE_URL:-http://127.0.0.1:8080}/api/v1/jobs" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -H "Idempotency-Key: bench-rss-$acct-$i" \
    -d '{"service_option":"tone_rewrites_copy_polish","title":"RSS bench","intake":{"audience":"a","brand_constraints":"b","tone":"c","delivery_format":"d"}}' \
    || die "could not create the bench jobs"
done

VAR=$TOP/var
HTTPD=${HTTPD:-/usr/sbin/apache2}
B=$(mktemp -d /tmp/webot-rss.XXXXXX)
chmod 0755 "$B"
cleanup() {
  set +e
  for d in "$B"/with "$B"/without; do
    if [[ -s "$d/httpd.pid" ]]; then
      kill -TERM "$(cat "$d/httpd.pid")" 2>/dev/null
      for _ in $(seq 50); do [[ -e "$d/httpd.pid" ]] || break; sleep 0.1; done
    fi
  done
  rm -rf "$B"
}
trap cleanup EXIT

# start_instance NAME PORT SSLPORT WITH(1|0) -> the instance's directory
start_instance() {
  local name=$1 port=$2 sport=$3 with=$4 d=$B/$1
  mkdir -p "$d/run" "$d/files" "$d/htdocs/static"
  chown www-data:www-data "$d/run" "$d/files"
  bench_httpd_conf "$VAR" "$d" "$port" "$sport" "$with" >"$d/httpd.conf"
  "$HTTPD" -f "$d/httpd.conf" -t >/dev/null 2>"$d/configtest" || { cat "$d/configtest" >&2; die "$name: configtest failed"; }
  "$HTTPD" -f "$d/httpd.conf" -k start
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" && break
    sleep 0.1
  done
}

child_of() { pgrep -P "$(cat "$B/$1/httpd.pid")" | head -n 1; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$(child_of "$1")/status"; }

# ab_run URL N [HEADER] -> fails unless all N answers are 2xx
ab_run() {
  local url=$1 n=$2 hdr=${3:-} log
  log=$(mktemp "$B/ab.XXXXXX")
  if [[ -n "$hdr" ]]; then
    ab -q -k -c 16 -n "$n" -H "$hdr" -H 'Accept: application/json' "$url" >"$log" 2>&1 || { cat "$log" >&2; die "ab failed on $url"; }
  else
    ab -q -k -c 16 -n "$n" "$url" >"$log" 2>&1 || { cat "$log" >&2; die "ab failed on $url"; }
  fi
  grep -q '^Complete requests: *'"$n"'$' "$log" || { cat "$log" >&2; die "ab: not all of $n requests completed on $url"; }
  if grep -q '^Non-2xx responses' "$log"; then cat "$log" >&2; die "non-2xx answers on $url"; fi
  grep -q '^Failed requests: *0$' "$log" || { cat "$log" >&2; die "failed requests on $url"; }
  rm -f "$log"
}

# load_with BASE N: N requests over the three routes
load_with() {
  local base=$1 n=$2 a=$(( $2 * 2 / 5 )) b=$(( $2 * 3 / 10 ))
  local auth="Authorization: Bearer $KEY"
  ab_run "$base/api/v1/me" "$a" "$auth"
  ab_run "$base/api/v1/catalog" "$b" "$auth"
  ab_run "$base/api/v1/jobs?limit=20" "$(( n - a - b ))" "$auth"
}

load_static() { ab_run "$1/static/rss-me.json" "$2"; }

# measure NAME LOAD BASE: VmRSS (kB) of NAME's one child at start, after
# LOAD BASE WARMUP_REQUESTS and after LOAD BASE REQUESTS more, as
# "start warm end"; fails if the child changed on the way
measure() {
  local name=$1 pid s w e
  shift
  pid=$(child_of "$name")
  s=$(rss_kb "$name")
  "$@" "$WARMUP_REQUESTS"
  w=$(rss_kb "$name")
  "$@" "$REQUESTS"
  e=$(rss_kb "$name")
  [[ $(child_of "$name") == "$pid" ]] || die "$name: the child changed during the run (it must be one process)"
  echo "$s $w $e"
}

P1=$(find_free_port 18180); S1=$(find_free_port $((P1 + 1)))
P2=$(find_free_port $((S1 + 1))); S2=$(find_free_port $((P2 + 1)))

log "with mod_webot: httpd on 127.0.0.1:$P1 (one child)"
start_instance with "$P1" "$S1" 1
curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" "http://127.0.0.1:$P1/api/v1/me" \
  || die "GET /api/v1/me on the bench instance failed"
res=$(measure with load_with "http://127.0.0.1:$P1") || exit 1
read -r rss_start_with rss_warm_with rss_end_with <<<"$res"

log "without mod_webot: httpd on 127.0.0.1:$P2 (one child)"
start_instance without "$P2" "$S2" 0
docroot=$(sed -n 's/^DocumentRoot "\(.*\)"$/\1/p' "$B/without/httpd.conf" | head -n 1)
curl -fsS -o "$docroot/static/rss-me.json" -H "Authorization: Bearer $KEY" "http://127.0.0.1:$P1/api/v1/me" \
  || die "GET /api/v1/me failed"
chmod 0644 "$docroot/static/rss-me.json"
res=$(measure without load_static "http://127.0.0.1:$P2") || exit 1
read -r rss_start_without rss_warm_without rss_end_without <<<"$res"
rm -f "$docroot/static/rss-me.json"

grow_with=$(( rss_end_with - rss_warm_with ))
grow_without=$(( rss_end_without - rss_warm_without ))
{
  printf 'RESULT {"name":"rss-with-module","requests":%d,"warmup_requests":%d,"rss_kb_start":%d,"rss_kb_after_warmup":%d,"rss_kb_after_requests":%d,"growth_kb":%d}\n' \
    "$REQUESTS" "$WARMUP_REQUESTS" "$rss_start_with" "$rss_warm_with" "$rss_end_with" "$grow_with"
  printf 'RESULT {"name":"rss-without-module","requests":%d,"warmup_requests":%d,"rss_kb_start":%d,"rss_kb_after_warmup":%d,"rss_kb_after_requests":%d,"growth_kb":%d}\n' \
    "$REQUESTS" "$WARMUP_REQUESTS" "$rss_start_without" "$rss_warm_without" "$rss_end_without" "$grow_without"
} | tee "$OUT/results.jsonl"
{
  echo "httpd child RSS (kB), one child of 25 threads, ab -k -c 16"
  printf '%-16s %10s %14s %16s %10s\n' "" "at start" "after warm-up" "after $REQUESTS" "growth"
  printf '%-16s %10s %14s %16s %10s\n' "with mod_webot" "$rss_start_with" "$rss_warm_with" "$rss_end_with" "$grow_with"
  printf '%-16s %10s %14s %16s %10s\n' "without" "$rss_start_without" "$rss_warm_without" "$rss_end_without" "$grow_without"
  echo "with: /me, /catalog, /jobs?limit=20 (2:1.5:1.5) with a bench key; without: a static file of the /me bytes"
} | tee "$OUT/summary.txt"
