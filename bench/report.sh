#!/usr/bin/env bash
# bench/report.sh: the benchmark report (`make bench`). One run measures,
# against the real server on loopback:
#   1. GET /api/v1/catalog vs the same bytes as a static file   (bench/run.sh)
#   2. GET /api/v1/me vs a static file and the Fastify peer      (bench/me.sh)
#   3. POST /api/v1/jobs vs the Fastify peer, GET /api/v1/jobs?limit=20 vs a
#      static file, the dev server's job worker off              (bench/jobs.sh)
#   4. the job worker vs graphile-worker                         (bench/worker.sh)
#   5. httpd child RSS with and without the module after 100,000 requests
#                                                                (bench/rss.sh)
# and prints every figure, every ratio and its target. The peers are the ones
# of ../shared/bench, run unchanged (each script copies that folder and runs
# `npm ci` in the copy once). Everything listens on 127.0.0.1 only.
#
# As root (httpd starts as root). Takes about ROUNDS x 3 minutes.
# Knobs: ROUNDS (3: wrk rounds per comparison and worker passes), DURATION
#   (10 s per wrk run), WARMUP (2 s), REQUESTS (100000, for the RSS figure),
#   BENCH_STRICT=1 (exit 1 when a target is missed), REPORT_DIR (an earlier
#   report's directory: measure only what is missing there, then report).
# Output: the table on stdout and in var/bench/report-<time>/report.md, with
# every script's raw output below that directory.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$TOP/scripts/lib.sh"

export ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10} WARMUP=${WARMUP:-2}
REQUESTS=${REQUESTS:-100000}
OUT=${REPORT_DIR:-$TOP/var/bench/report-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
[[ -s "$OUT/loadavg.start" ]] || cp /proc/loadavg "$OUT/loadavg.start"
[[ $(id -u) == 0 ]] || die "run as root (httpd starts as root, children as www-data)"
for t in wrk ab; do
  command -v "$t" >/dev/null || die "$t is not installed (apt-get install wrk apache2-utils)"
done

log "make run"
make -C "$TOP" --no-print-directory run >/dev/null

# done STEP FILE: with REPORT_DIR set to an earlier report, a step whose
# results are there already is not measured again (finish a broken run)
done_step() { [[ -n "${REPORT_DIR:-}" && -s "$OUT/$1/$2" ]]; }
if ! done_step catalog results.env; then
  log "1/5 GET /api/v1/catalog vs static"
  BENCH_NO_RUN=1 BENCH_OUT=$OUT/catalog "$TOP/bench/run.sh" >"$OUT/catalog.log" 2>&1 || { cat "$OUT/catalog.log" >&2; die "bench/run.sh failed"; }
fi
if ! done_step me results.env; then
  log "2/5 GET /api/v1/me vs static and the Fastify peer"
  BENCH_NO_RUN=1 PEER=1 BENCH_OUT=$OUT/me "$TOP/bench/me.sh" >"$OUT/me.log" 2>&1 || { cat "$OUT/me.log" >&2; die "bench/me.sh failed"; }
fi
if ! done_step jobs results.env; then
  # Without the dev server's job worker: the peer's POST /jobs has no
  # consumer either, and the worker (measured on its own in step 4) would
  # run every created job meanwhile, locking the account's counter row for
  # its moves. `make run` afterwards restores the configuration.
  log "3/5 POST /api/v1/jobs vs the Fastify peer, GET /api/v1/jobs vs static (worker off)"
  sed -i 's/^\([[:space:]]*WebotWorker\)[[:space:]]\+On[[:space:]]*$/\1 Off/' "$TOP/var/httpd/httpd.conf"
  "${HTTPD:-/usr/sbin/apache2}" -f "$TOP/var/httpd/httpd.conf" -k graceful
  sleep 3
  BENCH_NO_RUN=1 PEER=1 BENCH_OUT=$OUT/jobs "$TOP/bench/jobs.sh" >"$OUT/jobs.log" 2>&1 || { cat "$OUT/jobs.log" >&2; make -C "$TOP" --no-print-directory run >/dev/null; die "bench/jobs.sh failed"; }
  log "make run (the worker on again)"
  make -C "$TOP" --no-print-directory run >/dev/null
fi
if ! done_step worker results.jsonl; then
  log "4/5 job worker vs graphile-worker ($ROUNDS passes)"
  RUNS=$ROUNDS OUT=$OUT/worker "$TOP/bench/worker.sh" >"$OUT/worker.log" 2>&1 || { cat "$OUT/worker.log" >&2; die "bench/worker.sh failed"; }
fi
if ! done_step rss results.jsonl; then
  log "5/5 httpd child RSS after $REQUESTS requests, with and without the module"
  REQUESTS=$REQUESTS OUT=$OUT/rss "$TOP/bench/rss.sh" >"$OUT/rss.log" 2>&1 || { cat "$OUT/rss.log" >&2; die "bench/rss.sh failed"; }
fi

# --- the figures -------------------------------------------------------------------
val() { sed -n "s/^$2=//p" "$OUT/$1/results.env"; }
jget() { # jget FILE NAME FIELD -> the FIELD of every RESULT line named NAME
  perl -MJSON::PP -e 'my ($f, $n, $k) = @ARGV; open my $h, "<", $f or exit;
    while (<$h>) { next unless s/^RESULT //; my $r = eval { JSON::PP->new->decode($_) } or next;
      print $r->{$k}, "\n" if $r->{name} eq $n }' "$1" "$2" "$3"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
MISS=0
# verdict VALUE OP TARGET
verdict() {
  if awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { exit !((op == ">=") ? v >= t : v < t) }'; then
    echo "met"
  else
    MISS=1; echo "**missed**"
  fi
}

cat_s=$(val catalog static_rps); cat_a=$(val catalog catalog_rps)
me_s=$(val me static_rps); me_m=$(val me me_rps); me_pe=$(val me peer_rps)
me_p99=$(val me me_p99); me_pe_p99=$(val me peer_p99)
jb_po=$(val jobs post_rps); jb_po_p99=$(val jobs post_p99); jb_pe=$(val jobs peer_rps)
jb_pe_p99=$(val jobs peer_p99); jb_li=$(val jobs list_rps); jb_st=$(val jobs static_rps)
wres=$OUT/worker/results.jsonl
w_m=$(jget "$wres" mod_webot-worker jobs_per_s | median)
w_g=$(jget "$wres" graphile-worker jobs_per_s | median)
w_runs_m=$(jget "$wres" mod_webot-worker jobs_per_s | paste -sd' ')
w_runs_g=$(jget "$wres" graphile-worker jobs_per_s | paste -sd' ')
rres=$OUT/rss/results.jsonl
rss_w0=$(jget "$rres" rss-with-module rss_kb_after_warmup); rss_w1=$(jget "$rres" rss-with-module rss_kb_after_requests)
rss_n0=$(jget "$rres" rss-without-module rss_kb_after_warmup); rss_n1=$(jget "$rres" rss-without-module rss_kb_after_requests)
rss_wg=$(( rss_w1 - rss_w0 )); rss_ng=$(( rss_n1 - rss_n0 ))

r_cat=$(ratio "$cat_a" "$cat_s"); r_me_s=$(ratio "$me_m" "$me_s"); r_me_p=$(ratio "$me_m" "$me_pe")
r_po=$(ratio "$jb_po" "$jb_pe"); r_li=$(ratio "$jb_li" "$jb_st"); r_w=$(ratio "$w_m" "$w_g")
{
  echo "# mod_webot benchmark report"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)),"
  echo "$(apache2 -v 2>/dev/null | sed -n 's/^Server version: //p'), $(psql --version | head -n 1), wrk -t2 -c32 -d${DURATION}s after ${WARMUP}s warm-up,"
  echo "$ROUNDS rounds per comparison (medians), load average before the run: $(cut -d' ' -f1-3 "$OUT/loadavg.start" 2>/dev/null || echo '?'), after: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| figure | requests/s or jobs/s | p99 ms | compared with | ratio | target | verdict |"
  echo "|---|---:|---:|---|---:|---|---|"
  echo "| static file (catalog bytes) | $cat_s | $(val catalog static_p99) | | | | |"
  echo "| GET /api/v1/catalog | $cat_a | $(val catalog catalog_p99) | static | $r_cat | ≥ 0.95 | $(verdict "$r_cat" ">=" 0.95) |"
  echo "| static file (/me bytes) | $me_s | $(val me static_p99) | | | | |"
  echo "| GET /api/v1/me | $me_m | $me_p99 | static | $r_me_s | ≥ 0.8 | $(verdict "$r_me_s" ">=" 0.8) |"
  echo "| Fastify peer GET /me | $me_pe | $me_pe_p99 | mod_webot ÷ peer | $r_me_p | ≥ 1.6 | $(verdict "$r_me_p" ">=" 1.6) |"
  echo "| POST /api/v1/jobs | $jb_po | $jb_po_p99 | p99 | | < 30 ms | $(verdict "$jb_po_p99" "<" 30) |"
  echo "| Fastify peer POST /jobs | $jb_pe | $jb_pe_p99 | mod_webot ÷ peer | $r_po | ≥ 1.5 | $(verdict "$r_po" ">=" 1.5) |"
  echo "| static file (list bytes) | $jb_st | $(val jobs static_p99) | | | | |"
  echo "| GET /api/v1/jobs?limit=20 | $jb_li | $(val jobs list_p99) | static | $r_li | ≥ 0.4 (issue 4) | $(verdict "$r_li" ">=" 0.4) |"
  echo "| job worker (jobs/s) | $w_m | | | | | |"
  echo "| graphile-worker (jobs/s) | $w_g | | mod_webot ÷ graphile | $r_w | ≥ 1.5 | $(verdict "$r_w" ">=" 1.5) |"
  echo "| child RSS growth, with module (kB) | $rss_wg | | $rss_w0 → $rss_w1 kB | | ≤ 1024 | $(verdict "$rss_wg" "<" 1025) |"
  echo "| child RSS growth, without (kB) | $rss_ng | | $rss_n0 → $rss_n1 kB | | | |"
  echo
  echo "Worker passes, jobs/s: mod_webot $w_runs_m; graphile-worker $w_runs_g."
  echo "RSS: one child of 25 threads, after a warm-up of 10,000 requests and then $REQUESTS more (with: /me, /catalog, /jobs?limit=20; without: a static file)."
  echo "Database sessions opened during the /me runs: $(val me sessions) for $(val me requests) requests."
  echo
  echo "Raw output: $OUT"
} >"$OUT/report.md"
cat "$OUT/report.md"
if [[ "${BENCH_STRICT:-0}" == 1 && $MISS == 1 ]]; then
  exit 1
fi
