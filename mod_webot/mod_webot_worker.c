/* mod_webot_worker.c: the job worker. One thread per httpd instance: the
 * RUNNING callback of a singleton mod_watchdog instance ("webot-worker")
 * runs the worker loop until the child stops, so exactly one child of the
 * instance executes jobs at a time; any number of instances may share one
 * database (leases, FOR UPDATE SKIP LOCKED).
 *
 * The loop, single-threaded:
 *   - its own database connection (apr_dbd's pgsql driver, outside mod_dbd's
 *     pool, so it never waits for or takes a request's connection), which
 *     also LISTENs on webot_jobs (new and revised jobs) and
 *     webot_job_events (cancellations of jobs in flight);
 *   - a curl multi handle driving up to WebotWorkerConcurrency executor
 *     calls at once; curl_multi_poll waits on the transfers, the database
 *     socket and curl_multi_wakeup (how a stop request gets in);
 *   - claims in batches, moves in one statement per batch, renews leases of
 *     jobs in flight (which is also how a cancel is noticed), retries with
 *     exponential backoff and jitter, heartbeats, housekeeping.
 *
 * Stopping (docs/worker.md): child_stopping says graceful or not; the loop
 * stops claiming and lets calls in flight finish (graceful: up to the
 * executor timeout; otherwise about 1.5 s), then aborts what is left and
 * gives those leases back. A pre-cleanup of the child pool waits for the
 * loop, because the loop's memory must not outlive mod_dbd's pool and the
 * watchdog thread is joined only after the child pool is gone. The
 * watchdog may call STOPPING from another thread while RUNNING is still
 * executing: stopping is a flag plus a wake-up, idempotent. */
#include "mod_webot_worker.h"
#include "mod_webot_files.h"
#include "webot_entitlement.h"
#include "webot_executor.h"
#include "webot_job.h"
#include "webot_jobcheck.h"
#include "webot_store_worker.h"

#include <apr_atomic.h>
#include <apr_lib.h>
#include <apr_optional.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

#include <ap_mpm.h>
#include <http_core.h>
#include <mpm_common.h>
#include <mod_status.h>
#include <mod_watchdog.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKER_WATCHDOG      "webot-worker"
#define CLAIM_BATCH_MAX      100
#define BEAT_INTERVAL        apr_time_from_sec(5)
#define STALE_SECS           30
#define HOUSEKEEP_LIMIT      1000
#define UNGRACEFUL_DRAIN     apr_time_from_msec(1500)
#define CHECK_MIN_GAP        apr_time_from_msec(250)
#define BATCH_DELAY          apr_time_from_msec(2)
#define FILE_URL_TTL_MIN     3600

/* --- configuration (global: the worker is one per instance) ---------------- */

typedef struct exec_rule_t {
    const char *family;             /* "*" for the default */
    const char *url;                /* NULL: manual */
} exec_rule_t;

typedef struct wcfg_t {
    int enabled;                    /* WEBOT_UNSET: On */
    int concurrency, lease, poll, attempts, housekeeping;
    int backoff_base, backoff_max;
    long t_total, t_connect, t_stall;
    long max_response;
    apr_array_header_t *rules;      /* exec_rule_t */
    const unsigned char *secret;
    apr_size_t secret_len;
    const char *conninfo;
} wcfg_t;

static wcfg_t G;

/* Live counters, in shared memory so that server-status of any child shows
 * the leader's (one segment per generation). */
typedef struct wstats_t {
    volatile apr_uint32_t leader_pid;
    volatile apr_uint32_t running;
    volatile apr_uint32_t db_ok;
    volatile apr_uint64_t claimed, done, failed, retries, canceled,
                          rejected, released;
    volatile apr_time_t started, last_beat, last_claim;
} wstats_t;

/* Per generation (pconf): what the threads of a child share. */
typedef struct wctx_t {
    server_rec *s;
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *cv;
    volatile int stop;
    volatile int graceful;
    volatile int running;
    CURLM *multi;                   /* while the loop runs; under mu */
    wstats_t *stats;
    const char *worker_id;          /* host:parent pid */
    const char *host;
} wctx_t;

static wctx_t *W;                   /* NULL: no worker in this instance */
static wstats_t no_stats;

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *w_dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *w_dbd_close;

static const char *global_only(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

const char *webot_worker_set_flag(cmd_parms *cmd, void *d, int on)
{
    const char *err = global_only(cmd);
    (void)d;
    if (!err) {
        G.enabled = on;
    }
    return err;
}

const char *webot_worker_set_int(cmd_parms *cmd, void *d, const char *arg)
{
    const char *what = cmd->info, *name = cmd->directive->directive;
    const char *err = global_only(cmd);
    long long v;
    (void)d;
    if (err) {
        return err;
    }
    if (!strcmp(what, "concurrency")) {
        err = webot_parse_directive_int(cmd->pool, name, arg, 1, 1000, &v);
        G.concurrency = (int)v;
    }
    else if (!strcmp(what, "lease")) {
        err = webot_parse_directive_int(cmd->pool, name, arg, 3, 86400, &v);
        G.lease = (int)v;
    }
    else if (!strcmp(what, "poll")) {
        err = webot_parse_directive_int(cmd->pool, name, arg, 1, 3600, &v);
        G.poll = (int)v;
    }
    else if (!strcmp(what, "attempts")) {
        err = webot_parse_directive_int(cmd->pool, name, arg, 1, 100, &v);
        G.attempts = (int)v;
    }
    else if (!strcmp(what, "housekeeping")) {
        err = webot_parse_directive_int(cmd->pool, name, arg, 1, 86400, &v);
        G.housekeeping = (int)v;
    }
    else {
        err = webot_parse_directive_int(cmd->pool, name, arg, 1024,
                                        64 * 1024 * 1024, &v);
        G.max_response = (long)v;
    }
    return err;
}

const char *webot_worker_set_backoff(cmd_parms *cmd, void *d,
                                     const char *base, const char *max)
{
    const char *err = global_only(cmd);
    long long b, m;
    (void)d;
    if (err
        || (err = webot_parse_directive_int(cmd->pool, "WebotWorkerBackoff",
                                            base, 1, 86400, &b))) {
        return err;
    }
    m = b > 600 ? b : 600;
    if (max && (err = webot_parse_directive_int(cmd->pool,
                          "WebotWorkerBackoff", max, b, 7 * 86400, &m))) {
        return apr_pstrcat(cmd->pool, err, " (MAX must be at least BASE)",
                           NULL);
    }
    G.backoff_base = (int)b;
    G.backoff_max = (int)m;
    return NULL;
}

const char *webot_worker_set_executor(cmd_parms *cmd, void *d,
                                      const char *family, const char *url)
{
    const char *err = global_only(cmd);
    exec_rule_t *r;
    apr_uri_t u;
    int i;
    (void)d;
    if (err) {
        return err;
    }
    for (i = 0; i < G.rules->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(G.rules, i, exec_rule_t).family, family)) {
            return apr_psprintf(cmd->pool, "WebotExecutor: %s is configured "
                                "twice", family);
        }
    }
    if (strcmp(family, "*")) {
        const char *s;
        for (s = family; *s; s++) {
            if (!apr_isalnum(*s) && *s != '_' && *s != '-') {
                return apr_psprintf(cmd->pool, "WebotExecutor: \"%s\" is "
                                    "not a service family id or *", family);
            }
        }
    }
    r = apr_array_push(G.rules);
    r->family = apr_pstrdup(cmd->pool, family);
    r->url = NULL;
    if (!strcasecmp(url, "manual")) {
        return NULL;
    }
    if (apr_uri_parse(cmd->pool, url, &u) != APR_SUCCESS || !u.scheme
        || (strcasecmp(u.scheme, "http") && strcasecmp(u.scheme, "https"))
        || !u.hostname || !*u.hostname || u.user || u.password
        || u.fragment) {
        return apr_psprintf(cmd->pool, "WebotExecutor: \"%s\" is neither "
                            "manual nor an http:// or https:// URL (no "
                            "credentials or fragment)", url);
    }
    r->url = apr_pstrdup(cmd->pool, url);
    return NULL;
}

const char *webot_worker_set_secret(cmd_parms *cmd, void *d,
                                    const char *arg)
{
    const char *err = global_only(cmd);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    (void)d;
    if (err) {
        return err;
    }
    if (!path) {
        return apr_pstrcat(cmd->pool, "WebotExecutorSecretFile: invalid "
                           "path ", arg, NULL);
    }
    return webot_read_secret_file(cmd->pool, "WebotExecutorSecretFile",
                                  path, &G.secret, &G.secret_len, 32);
}

const char *webot_worker_set_timeout(cmd_parms *cmd, void *d, int argc,
                                     char *const argv[])
{
    const char *err = global_only(cmd), *n = "WebotExecutorTimeout";
    long long total, conn, stall;
    (void)d;
    if (err) {
        return err;
    }
    if (argc < 1 || argc > 3) {
        return "WebotExecutorTimeout takes TOTAL [CONNECT [STALL]] seconds";
    }
    if ((err = webot_parse_directive_int(cmd->pool, n, argv[0], 1, 86400,
                                         &total))) {
        return err;
    }
    conn = total < 10 ? total : 10;
    stall = total;
    if (argc > 1 && (err = webot_parse_directive_int(cmd->pool, n, argv[1],
                                                     1, total, &conn))) {
        return apr_pstrcat(cmd->pool, err, " (CONNECT at most TOTAL)", NULL);
    }
    if (argc > 2 && (err = webot_parse_directive_int(cmd->pool, n, argv[2],
                                                     1, total, &stall))) {
        return apr_pstrcat(cmd->pool, err, " (STALL at most TOTAL)", NULL);
    }
    G.t_total = (long)total;
    G.t_connect = (long)conn;
    G.t_stall = (long)stall;
    return NULL;
}

const char *webot_worker_set_conninfo(cmd_parms *cmd, void *d,
                                      const char *arg)
{
    const char *err = global_only(cmd);
    char *msg = NULL;
    PQconninfoOption *o;
    (void)d;
    if (err) {
        return err;
    }
    if (!(o = PQconninfoParse(arg, &msg))) {
        err = apr_psprintf(cmd->pool, "WebotNotifyConnInfo: not a libpq "
                           "connection string: %s", msg ? msg : "invalid");
        if (msg) {
            PQfreemem(msg);
        }
        return err;
    }
    PQconninfoFree(o);
    G.conninfo = arg;
    return NULL;
}

const char *webot_notify_conninfo(void)
{
    return G.conninfo;
}

/* --- conninfo from a pooled connection ---------------------------------------- */

static void add_kw(apr_pool_t *p, char **s, const char *kw, const char *v)
{
    const char *c;
    char *q, *o;
    if (!v || !*v) {
        return;
    }
    o = q = apr_palloc(p, strlen(v) * 2 + 3);
    *o++ = '\'';
    for (c = v; *c; c++) {
        if (*c == '\'' || *c == '\\') {
            *o++ = '\\';
        }
        *o++ = *c;
    }
    *o++ = '\'';
    *o = '\0';
    *s = apr_pstrcat(p, *s, **s ? " " : "", kw, "=", q, NULL);
}

const char *webot_conninfo_from_dbd(apr_pool_t *p, server_rec *s)
{
    ap_dbd_t *d;
    PGconn *c;
    char *ci = "";

    if (!w_dbd_open || !w_dbd_close || !(d = w_dbd_open(p, s))) {
        return NULL;
    }
    if (strcmp(apr_dbd_name(d->driver), "pgsql")
        || !(c = apr_dbd_native_handle(d->driver, d->handle))) {
        w_dbd_close(s, d);
        return NULL;
    }
    add_kw(p, &ci, "host", PQhost(c));
    add_kw(p, &ci, "port", PQport(c));
    add_kw(p, &ci, "dbname", PQdb(c));
    add_kw(p, &ci, "user", PQuser(c));
    add_kw(p, &ci, "password", PQpass(c));
    w_dbd_close(s, d);
    return apr_pstrcat(p, ci, " connect_timeout=5"
                       " application_name=mod_webot_worker", NULL);
}

/* --- the loop ------------------------------------------------------------------ */

typedef struct ljob_t {
    apr_pool_t *p;
    webot_wjob_t *job;
    const exec_rule_t *rule;
    int review_family;
    webot_exec_call_t *call;        /* in the multi handle while set */
    int has_result;
    webot_exec_outcome_e outcome;
    const char *deliverable;
    const char *why;
    int review_required;
} ljob_t;

typedef struct loop_t {
    wctx_t *w;
    server_rec *s;
    const webot_catalog_t *cat;
    apr_pool_t *p;                  /* the loop's, own allocator */
    apr_pool_t *iter;               /* cleared every round */
    webot_db_t *db;
    apr_pool_t *dbp;
    PGconn *pg;
    const char *conninfo;
    const char *owner;              /* lease tag of this loop */
    CURLM *multi;
    apr_hash_t *jobs;               /* id -> ljob_t: claimed, not settled */
    int ncalls;                     /* executor calls in flight */
    apr_array_header_t *done;       /* ljob_t * with a result to write */
    webot_exec_opts_t opts;
    apr_time_t next_connect, next_poll, next_renew, next_beat,
               next_housekeep, next_due, last_check;
    apr_interval_time_t renew_every, connect_backoff;
    int wake, check_now, more, beat_starting;
    apr_time_t pending_since;       /* results or free slots waiting */
    apr_time_t next_round;          /* after a failed round */
    int db_was_down, warned_conninfo;
    int stopping;
    apr_time_t stop_started;
    unsigned rnd;
} loop_t;

static apr_time_t tmin(apr_time_t a, apr_time_t b)
{
    return a < b ? a : b;
}

static void stat_running(loop_t *L)
{
    L->w->stats->running = (apr_uint32_t)L->ncalls;
}

static unsigned next_rand(loop_t *L)
{
    L->rnd ^= L->rnd << 13;
    L->rnd ^= L->rnd >> 17;
    L->rnd ^= L->rnd << 5;
    return L->rnd;
}

/* Retry delay after `attempt` failed: BASE * 2^(attempt-1) capped at MAX,
 * with equal jitter (half fixed, half random), in milliseconds. */
static long backoff_ms(loop_t *L, int attempt)
{
    double d = G.backoff_base;
    int i;
    for (i = 1; i < attempt && d < G.backoff_max; i++) {
        d *= 2;
    }
    if (d > G.backoff_max) {
        d = G.backoff_max;
    }
    d *= 1000;
    return (long)(d / 2 + (d / 2) * (next_rand(L) % 10001) / 10000.0);
}

static const exec_rule_t *rule_for(const char *family)
{
    static const exec_rule_t manual = { "*", NULL };
    const exec_rule_t *star = NULL;
    int i;
    for (i = 0; i < G.rules->nelts; i++) {
        const exec_rule_t *r = &APR_ARRAY_IDX(G.rules, i, exec_rule_t);
        if (!strcmp(r->family, family)) {
            return r;
        }
        if (!strcmp(r->family, "*")) {
            star = r;
        }
    }
    return star ? star : &manual;
}

/* --- database ------------------------------------------------------------------ */

static void db_close(loop_t *L)
{
    if (L->db) {
        apr_dbd_close(L->db->driver, L->db->handle);
        L->db = NULL;
        L->pg = NULL;
    }
    if (L->dbp) {
        apr_pool_destroy(L->dbp);
        L->dbp = NULL;
    }
}

static void db_down(loop_t *L, const char *what)
{
    if (!L->db_was_down) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, L->s, APLOGNO(30700)
                     "webot worker: database unavailable (%s); jobs wait "
                     "until it is back", what);
    }
    L->db_was_down = 1;
    L->w->stats->db_ok = 0;
    db_close(L);
    L->next_connect = apr_time_now() + L->connect_backoff;
    L->connect_backoff = L->connect_backoff * 2 > apr_time_from_sec(5)
                         ? apr_time_from_sec(5) : L->connect_backoff * 2;
}

/* After a store call: 0 to go on, -1 when it failed (handled). */
static int db_check(loop_t *L, webot_dbrc_e rc, const char *what)
{
    if (rc == WEBOT_DB_OK) {
        return 0;
    }
    if (rc == WEBOT_DB_DOWN) {
        db_down(L, what);
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, L->s, APLOGNO(30701)
                     "webot worker: %s failed: %s", what,
                     L->db ? webot_db_errmsg(L->db) : "no connection");
        if (L->db) {
            webot_db_rollback(L->db, L->iter);
        }
    }
    return -1;
}

static void drain_notifies(loop_t *L)
{
    PGnotify *n;
    if (!L->pg) {
        return;
    }
    while ((n = PQnotifies(L->pg)) != NULL) {
        if (!strcmp(n->relname, "webot_jobs")) {
            L->wake = 1;
        }
        else if (n->extra && apr_hash_get(L->jobs, n->extra,
                                          APR_HASH_KEY_STRING)) {
            L->check_now = 1;
        }
        PQfreemem(n);
    }
}

static int db_connect(loop_t *L)
{
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h = NULL;
    const char *err = NULL;
    PGresult *res;
    apr_status_t rv;

    if (!L->conninfo) {
        L->conninfo = G.conninfo ? G.conninfo
                                 : webot_conninfo_from_dbd(L->p, L->s);
        if (!L->conninfo) {
            if (!L->warned_conninfo) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, L->s,
                             APLOGNO(30702) "webot worker: no database "
                             "connection yet (mod_dbd not ready or "
                             "unreachable; set WebotNotifyConnInfo to "
                             "connect directly); retrying");
                L->warned_conninfo = 1;
            }
            L->db_was_down = 1;
            L->next_connect = apr_time_now() + apr_time_from_sec(1);
            return -1;
        }
    }
    apr_pool_create(&L->dbp, L->p);
    apr_pool_tag(L->dbp, "webot_worker_db");
    if ((rv = apr_dbd_get_driver(L->dbp, "pgsql", &drv)) != APR_SUCCESS
        || (rv = apr_dbd_open_ex(drv, L->dbp, L->conninfo, &h, &err))
           != APR_SUCCESS || !h) {
        if (!L->db_was_down) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, L->s, APLOGNO(30703)
                         "webot worker: cannot connect to the database%s%s",
                         err ? ": " : "", err ? err : "");
        }
        apr_pool_destroy(L->dbp);
        L->dbp = NULL;
        L->db_was_down = 1;
        L->w->stats->db_ok = 0;
        L->next_connect = apr_time_now() + L->connect_backoff;
        L->connect_backoff = L->connect_backoff * 2 > apr_time_from_sec(5)
                             ? apr_time_from_sec(5) : L->connect_backoff * 2;
        return -1;
    }
    L->db = apr_pcalloc(L->dbp, sizeof(*L->db));
    L->db->driver = drv;
    L->db->handle = h;
    L->db->conn_pool = L->dbp;
    L->db->cache = apr_hash_make(L->dbp);
    L->pg = apr_dbd_native_handle(drv, h);
    res = PQexec(L->pg, "LISTEN webot_jobs; LISTEN webot_job_events;"
                 " SET statement_timeout = '30s'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        PQclear(res);
        db_down(L, "LISTEN");
        return -1;
    }
    PQclear(res);
    if (L->db_was_down) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, L->s, APLOGNO(30704)
                     "webot worker: database connection (re)established");
    }
    L->db_was_down = 0;
    L->w->stats->db_ok = 1;
    L->connect_backoff = apr_time_from_msec(250);
    L->wake = 1;                    /* look at the queue at once */
    L->next_beat = 0;
    return 0;
}

/* --- jobs ------------------------------------------------------------------------ */

static webot_wjob_t *copy_job(apr_pool_t *p, const webot_wjob_t *s)
{
    webot_wjob_t *j = apr_pmemdup(p, s, sizeof(*s));
    int i;
#define DUP(f) j->f = s->f ? apr_pstrdup(p, s->f) : NULL
    DUP(id); DUP(account_id); DUP(status); DUP(family); DUP(option);
    DUP(title); DUP(intake); DUP(metadata); DUP(revision_notes);
    DUP(created_at);
#undef DUP
    j->file_ids = apr_array_make(p, s->file_ids->nelts ? s->file_ids->nelts
                                                       : 1,
                                 sizeof(const char *));
    for (i = 0; i < s->file_ids->nelts; i++) {
        const char *f = APR_ARRAY_IDX(s->file_ids, i, const char *);
        APR_ARRAY_PUSH(j->file_ids, const char *) = f ? apr_pstrdup(p, f)
                                                      : NULL;
    }
    return j;
}

/* Forgets a job (settled, lost or aborted). */
static void drop_job(loop_t *L, ljob_t *lj)
{
    if (lj->call) {
        curl_multi_remove_handle(L->multi,
                                 webot_exec_call_easy(lj->call));
        webot_exec_call_destroy(lj->call);
        lj->call = NULL;
        L->ncalls--;
        stat_running(L);
    }
    apr_hash_set(L->jobs, lj->job->id, APR_HASH_KEY_STRING, NULL);
    apr_pool_destroy(lj->p);
}

/* An event of the move; types and texts are the jobs core's
 * (webot_job.h), so every path that moves a job says the same thing. */
static void add_event(apr_pool_t *p, webot_wmove_t *m, const char *status,
                      const char *message)
{
    webot_wevent_t *e = &m->ev[m->nevents++];
    const char *type = webot_job_event_type(webot_job_status_parse(status),
                                            0);
    e->type = type ? type : apr_pstrcat(p, "job.", status, NULL);
    e->status = status;
    e->message = message ? message : webot_job_event_message(e->type, 0);
}

static webot_wmove_t *new_move(apr_pool_t *p, const char *id,
                               const char *from, const char *to)
{
    webot_wmove_t *m = apr_pcalloc(p, sizeof(*m));
    m->job_id = id;
    m->from = from;
    m->to = to;
    return m;
}

/* The statuses between `from` and `to` on the worker's path
 * queued -> accepted -> running -> (to), each with its event. */
static void path_events(apr_pool_t *p, webot_wmove_t *m, const char *to)
{
    if (!strcmp(m->from, "queued")) {
        add_event(p, m, "accepted", NULL);
    }
    if (strcmp(m->from, "running") && strcmp(to, "accepted")) {
        add_event(p, m, "running", NULL);
    }
    if (strcmp(to, "running") && strcmp(to, "accepted")) {
        add_event(p, m, to, NULL);
    }
}

/* Why a queued job may no longer start (a customer-safe phrase), or NULL. */
static const char *recheck(loop_t *L, apr_pool_t *p, const webot_wjob_t *j,
                           apr_hash_t *ents)
{
    webot_ent_t *e = apr_hash_get(ents, j->account_id, APR_HASH_KEY_STRING);
    webot_ent_view_t v;
    webot_jobcheck_t *jc;
    json_t *body, *intake;

    if (!e) {
        return "the account has no entitlement";
    }
    memset(&v, 0, sizeof(v));
    webot_entitlement_eval(p, L->cat, e, webot_past_due_grace, &v);
    if (!v.usable) {
        return "the account's entitlement no longer allows new work";
    }
    intake = j->intake ? json_loads(j->intake, 0, NULL) : NULL;
    body = webot_json_own(p, json_pack("{s:s,s:o}", "service_option",
                                       j->option ? j->option : "", "intake",
                                       json_is_object(intake)
                                       ? intake : json_object()));
    if (intake && !json_is_object(intake)) {
        json_decref(intake);
    }
    jc = webot_jobcheck(p, L->cat, NULL, body);
    if (!jc->option || strcmp(jc->option->family->id, j->family)) {
        return "the service option is no longer offered";
    }
    if (jc->nproblems || json_array_size(jc->missing)) {
        return "the intake no longer meets the service option's "
               "requirements";
    }
    return NULL;
}

static void settle_result(ljob_t *lj, webot_exec_outcome_e o,
                          const char *why)
{
    lj->has_result = 1;
    lj->outcome = o;
    lj->why = why;
}

/* Starts the executor call of a job that is running and leased to us. */
static void start_call(loop_t *L, ljob_t *lj, apr_time_t now)
{
    json_t *files = NULL;
    const char *body, *err = NULL;
    webot_exec_opts_t o = L->opts;
    webot_dbrc_e rc = WEBOT_DB_OK;
    CURLMcode mc;

    if (!L->db) {
        settle_result(lj, WEBOT_EXEC_RETRY, "the database was unavailable");
        APR_ARRAY_PUSH(L->done, ljob_t *) = lj;
        return;
    }
    if (lj->job->file_ids->nelts) {
        int ttl = (int)(G.t_total + G.lease);
        files = webot_files_brief(L->s, L->db, lj->p, lj->job->account_id,
                                  lj->job->file_ids,
                                  ttl < FILE_URL_TTL_MIN ? FILE_URL_TTL_MIN
                                                         : ttl, &rc);
        if (!files) {
            db_check(L, rc == WEBOT_DB_OK ? WEBOT_DB_ERROR : rc,
                     "reading the job's files");
            settle_result(lj, WEBOT_EXEC_RETRY,
                          "the job's file URLs could not be prepared");
            APR_ARRAY_PUSH(L->done, ljob_t *) = lj;
            return;
        }
    }
    body = webot_exec_brief(lj->p, lj->job, files, apr_time_sec(now));
    o.url = lj->rule->url;
    lj->call = webot_exec_call_create(lj->p, &o, lj->job->id,
                                      lj->job->attempts, body, strlen(body),
                                      apr_time_sec(now), &err);
    if (!lj->call) {
        settle_result(lj, WEBOT_EXEC_RETRY,
                      apr_pstrcat(lj->p, "cannot start the call: ", err,
                                  NULL));
        APR_ARRAY_PUSH(L->done, ljob_t *) = lj;
        return;
    }
    webot_exec_call_set_user(lj->call, lj);
    if ((mc = curl_multi_add_handle(L->multi,
                                    webot_exec_call_easy(lj->call)))
        != CURLM_OK) {
        webot_exec_call_destroy(lj->call);
        lj->call = NULL;
        settle_result(lj, WEBOT_EXEC_RETRY,
                      apr_pstrcat(lj->p, "cannot start the call: ",
                                  curl_multi_strerror(mc), NULL));
        APR_ARRAY_PUSH(L->done, ljob_t *) = lj;
        return;
    }
    L->ncalls++;
    stat_running(L);
}

/* Gives the leases of jobs back (and forgets them). */
static void release_jobs(loop_t *L, apr_array_header_t *ljobs)
{
    apr_array_header_t *ids;
    int i, n = 0;

    if (!ljobs->nelts) {
        return;
    }
    ids = apr_array_make(L->iter, ljobs->nelts, sizeof(const char *));
    for (i = 0; i < ljobs->nelts; i++) {
        APR_ARRAY_PUSH(ids, const char *) =
            apr_pstrdup(L->iter, APR_ARRAY_IDX(ljobs, i, ljob_t *)->job->id);
    }
    if (L->db && !db_check(L, webot_store_worker_release(L->db, L->iter,
                                  L->owner, ids, &n), "releasing leases")) {
        L->w->stats->released += (apr_uint64_t)n;
    }
    for (i = 0; i < ljobs->nelts; i++) {
        drop_job(L, APR_ARRAY_IDX(ljobs, i, ljob_t *));
    }
}

/* What one round's transaction decided, applied after its COMMIT (or
 * undone after a ROLLBACK): finished results, the claim of new jobs and
 * their first moves commit together, so a round costs one commit. */
typedef struct round_t {
    apr_array_header_t *created;    /* ljobs of this claim */
    apr_array_header_t *settled;    /* ljobs to forget */
    apr_array_header_t *lost;       /* guard failed: give the lease back */
    apr_array_header_t *start;      /* executor calls to start */
    apr_time_t due;                 /* earliest retry scheduled */
    int flushed;                    /* L->done was written */
    int claimed, done, failed, canceled, rejected, retries;
} round_t;

/* A move with the quota unit given back (rejection, cancel before work). */
static int tx_refund(loop_t *L, round_t *R, ljob_t *lj, webot_wmove_t *m)
{
    int refunded = 0;
    if (db_check(L, webot_store_worker_reject(L->db, L->iter, L->owner, m,
                                              &refunded),
                 "rejecting a job")) {
        return -1;
    }
    if (m->applied && !strcmp(m->to, "rejected")) {
        R->rejected++;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, L->s, APLOGNO(30705)
                     "webot worker: job %s rejected before work: %s%s",
                     lj->job->id, m->ev[0].message,
                     refunded ? " (quota unit refunded)" : "");
    }
    else if (m->applied) {
        R->canceled++;
    }
    APR_ARRAY_PUSH(R->settled, ljob_t *) = lj;
    return 0;
}

static int tx_start_jobs(loop_t *L, round_t *R, apr_array_header_t *claimed)
{
    apr_pool_t *p = L->iter;
    apr_array_header_t *accts = apr_array_make(p, 8, sizeof(char *));
    apr_array_header_t *moves = apr_array_make(p, 8, sizeof(void *));
    apr_array_header_t *owners = apr_array_make(p, 8, sizeof(void *));
    apr_array_header_t *refunds = apr_array_make(p, 2, sizeof(void *));
    apr_hash_t *ents = NULL, *seen = apr_hash_make(p);
    int i;

    for (i = 0; i < claimed->nelts; i++) {
        webot_wjob_t *j = APR_ARRAY_IDX(claimed, i, webot_wjob_t *);
        if (!strcmp(j->status, "queued")
            && !apr_hash_get(seen, j->account_id, APR_HASH_KEY_STRING)) {
            apr_hash_set(seen, j->account_id, APR_HASH_KEY_STRING, "");
            APR_ARRAY_PUSH(accts, const char *) = j->account_id;
        }
    }
    if (accts->nelts
        && db_check(L, webot_store_worker_entitlements(L->db, p, accts,
                                                       &ents),
                    "reading entitlements")) {
        return -1;
    }
    for (i = 0; i < claimed->nelts; i++) {
        webot_wjob_t *cj = APR_ARRAY_IDX(claimed, i, webot_wjob_t *);
        const webot_family_t *fam;
        webot_wmove_t *m = NULL;
        apr_pool_t *jp;
        ljob_t *lj;
        const char *why;

        apr_pool_create(&jp, L->p);
        apr_pool_tag(jp, "webot_worker_job");
        lj = apr_pcalloc(jp, sizeof(*lj));
        lj->p = jp;
        lj->job = copy_job(jp, cj);
        lj->rule = rule_for(lj->job->family);
        fam = apr_hash_get(L->cat->families_by_id, lj->job->family,
                           APR_HASH_KEY_STRING);
        lj->review_family = fam && fam->review_required;
        apr_hash_set(L->jobs, lj->job->id, APR_HASH_KEY_STRING, lj);
        APR_ARRAY_PUSH(R->created, ljob_t *) = lj;

        if (cj->cancel_requested) {
            m = new_move(jp, lj->job->id, lj->job->status, "canceled");
            m->release = 1;
            add_event(jp, m, "canceled", NULL);
            if (strcmp(cj->status, "running")) {
                APR_ARRAY_PUSH(refunds, ljob_t *) = lj;
                APR_ARRAY_PUSH(refunds, webot_wmove_t *) = m;
                continue;
            }
        }
        else if (strcmp(cj->status, "queued") && cj->attempts > G.attempts) {
            m = new_move(jp, lj->job->id, lj->job->status, "needs_review");
            m->release = 1;
            m->last_error = apr_psprintf(jp, "attempt cap (%d) reached: the "
                "worker holding the job stopped before it finished",
                G.attempts);
            path_events(jp, m, "needs_review");
        }
        else if (!strcmp(cj->status, "queued")
                 && (why = recheck(L, jp, lj->job, ents))) {
            m = new_move(jp, lj->job->id, "queued", "rejected");
            m->release = 1;
            add_event(jp, m, "rejected", apr_psprintf(jp, "The job was "
                      "rejected before work started: %s.%s", why,
                      cj->refundable ? " Its quota unit has been refunded."
                                     : ""));
            APR_ARRAY_PUSH(refunds, ljob_t *) = lj;
            APR_ARRAY_PUSH(refunds, webot_wmove_t *) = m;
            continue;
        }
        else if (!lj->rule->url) {
            m = new_move(jp, lj->job->id, lj->job->status, "needs_review");
            m->release = 1;
            path_events(jp, m, "needs_review");
        }
        else if (strcmp(cj->status, "running")) {
            m = new_move(jp, lj->job->id, lj->job->status, "running");
            path_events(jp, m, "running");
        }
        if (m) {
            APR_ARRAY_PUSH(moves, webot_wmove_t *) = m;
            APR_ARRAY_PUSH(owners, ljob_t *) = lj;
        }
        else {
            APR_ARRAY_PUSH(R->start, ljob_t *) = lj;
        }
    }
    if (moves->nelts
        && db_check(L, webot_store_worker_move(L->db, p, L->owner, moves),
                    "moving claimed jobs")) {
        return -1;
    }
    for (i = 0; i < moves->nelts; i++) {
        webot_wmove_t *m = APR_ARRAY_IDX(moves, i, webot_wmove_t *);
        ljob_t *lj = APR_ARRAY_IDX(owners, i, ljob_t *);
        if (!m->applied) {
            /* A customer cancel got there first: give the lease back so
             * that nothing waits for it to run out. */
            APR_ARRAY_PUSH(R->lost, ljob_t *) = lj;
        }
        else if (!strcmp(m->to, "running")) {
            APR_ARRAY_PUSH(R->start, ljob_t *) = lj;
        }
        else {
            if (!strcmp(m->to, "canceled")) {
                R->canceled++;
            }
            else if (m->last_error) {
                R->failed++;
            }
            else {
                R->done++;
            }
            APR_ARRAY_PUSH(R->settled, ljob_t *) = lj;
        }
    }
    for (i = 0; i < refunds->nelts; i += 2) {
        if (tx_refund(L, R, APR_ARRAY_IDX(refunds, i, ljob_t *),
                      APR_ARRAY_IDX(refunds, i + 1, webot_wmove_t *))) {
            return -1;
        }
    }
    return 0;
}

static int tx_claim(loop_t *L, round_t *R, apr_time_t now)
{
    /* jobs whose results this transaction writes free their slots */
    int free_slots = G.concurrency - (int)apr_hash_count(L->jobs)
                     + (R->flushed ? L->done->nelts : 0);
    int want = free_slots < CLAIM_BATCH_MAX ? free_slots : CLAIM_BATCH_MAX;
    apr_array_header_t *claimed;

    L->wake = 0;
    if (now >= L->next_due) {
        L->next_due = APR_INT64_MAX;
    }
    if (db_check(L, webot_store_worker_claim(L->db, L->iter, L->owner,
                                             G.lease, want, &claimed),
                 "claiming jobs")) {
        return -1;
    }
    L->more = claimed->nelts == want;
    L->next_poll = now + apr_time_from_sec(G.poll);
    R->claimed = claimed->nelts;
    return claimed->nelts ? tx_start_jobs(L, R, claimed) : 0;
}

/* Reads finished transfers. */
static void reap(loop_t *L)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(L->multi, &left)) != NULL) {
        webot_exec_call_t *c;
        ljob_t *lj;
        if (msg->msg != CURLMSG_DONE
            || !(c = webot_exec_call_of(msg->easy_handle))
            || !(lj = webot_exec_call_user(c))) {
            continue;
        }
        curl_multi_remove_handle(L->multi, msg->easy_handle);
        lj->outcome = webot_exec_call_result(c, msg->data.result, lj->p,
                                             &lj->deliverable,
                                             &lj->review_required, &lj->why);
        lj->has_result = 1;
        webot_exec_call_destroy(c);
        lj->call = NULL;
        L->ncalls--;
        stat_running(L);
        APR_ARRAY_PUSH(L->done, ljob_t *) = lj;
    }
}

/* Writes the results of finished calls (within the round's transaction). */
static int tx_flush(loop_t *L, round_t *R, apr_time_t now)
{
    apr_pool_t *p = L->iter;
    apr_array_header_t *moves = apr_array_make(p, L->done->nelts,
                                               sizeof(void *));
    apr_array_header_t *mj = apr_array_make(p, L->done->nelts,
                                            sizeof(void *));
    apr_array_header_t *retry = apr_array_make(p, 2, sizeof(void *));
    int i;

    for (i = 0; i < L->done->nelts; i++) {
        ljob_t *lj = APR_ARRAY_IDX(L->done, i, ljob_t *);
        webot_wmove_t *m;
        if (lj->outcome == WEBOT_EXEC_RETRY
            && lj->job->attempts < G.attempts) {
            APR_ARRAY_PUSH(retry, ljob_t *) = lj;
            continue;
        }
        m = new_move(p, lj->job->id, "running", "needs_review");
        m->release = 1;
        if (lj->outcome == WEBOT_EXEC_OK) {
            m->deliverable = lj->deliverable;
            if (!lj->review_required && !lj->review_family) {
                m->to = "ready_for_customer_review";
            }
        }
        else if (lj->outcome == WEBOT_EXEC_RETRY) {
            m->last_error = apr_psprintf(p, "gave up after %d attempts; "
                                         "last: %s", lj->job->attempts,
                                         lj->why);
        }
        else {
            m->last_error = lj->why;
        }
        add_event(p, m, m->to, NULL);
        APR_ARRAY_PUSH(moves, webot_wmove_t *) = m;
        APR_ARRAY_PUSH(mj, ljob_t *) = lj;
    }
    if (moves->nelts
        && db_check(L, webot_store_worker_move(L->db, p, L->owner, moves),
                    "storing results")) {
        return -1;
    }
    for (i = 0; i < moves->nelts; i++) {
        webot_wmove_t *m = APR_ARRAY_IDX(moves, i, webot_wmove_t *);
        ljob_t *lj = APR_ARRAY_IDX(mj, i, ljob_t *);
        if (!m->applied) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, L->s, APLOGNO(30706)
                         "webot worker: job %s changed while its executor "
                         "ran (canceled); result dropped", lj->job->id);
        }
        else if (m->last_error) {
            R->failed++;
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, L->s, APLOGNO(30707)
                         "webot worker: job %s to staff review after a "
                         "failed executor call: %s", lj->job->id,
                         m->last_error);
        }
        else {
            R->done++;
        }
    }
    for (i = 0; i < retry->nelts; i++) {
        ljob_t *lj = APR_ARRAY_IDX(retry, i, ljob_t *);
        long ms = backoff_ms(L, lj->job->attempts);
        int applied = 0;
        if (db_check(L, webot_store_worker_retry(L->db, p, L->owner,
                                                 lj->job->id, ms, lj->why,
                                                 &applied),
                     "scheduling a retry")) {
            return -1;
        }
        if (applied) {
            R->retries++;
            R->due = tmin(R->due, now + apr_time_from_msec(ms));
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, L->s, APLOGNO(30708)
                         "webot worker: job %s attempt %d failed, retry in "
                         "%ld ms: %s", lj->job->id, lj->job->attempts, ms,
                         lj->why);
        }
    }
    R->flushed = 1;
    return 0;
}

/* One transaction: the results of finished calls, then (do_claim) a claim
 * of new jobs with their first moves. Afterwards the calls start. */
static void round_tx(loop_t *L, apr_time_t now, int do_claim)
{
    apr_pool_t *p = L->iter;
    round_t R;
    wstats_t *st = L->w->stats;
    int i, failed;

    memset(&R, 0, sizeof(R));
    R.created = apr_array_make(p, 16, sizeof(void *));
    R.settled = apr_array_make(p, 16, sizeof(void *));
    R.lost = apr_array_make(p, 2, sizeof(void *));
    R.start = apr_array_make(p, 16, sizeof(void *));
    R.due = APR_INT64_MAX;
    if (db_check(L, webot_db_begin(L->db, p), "BEGIN")) {
        return;
    }
    failed = (L->done->nelts && tx_flush(L, &R, now))
             || (do_claim && tx_claim(L, &R, now))
             || db_check(L, webot_db_commit(L->db, p), "COMMIT");
    if (failed) {
        /* Rolled back (db_check did, or the connection is gone): the claim
         * never happened, the results stay in L->done for the next try,
         * which waits a second so that a statement that keeps failing
         * does not spin (or flood the log). */
        for (i = 0; i < R.created->nelts; i++) {
            drop_job(L, APR_ARRAY_IDX(R.created, i, ljob_t *));
        }
        L->next_round = now + apr_time_from_sec(1);
        L->more = 0;
        return;
    }
    if (R.flushed) {
        for (i = 0; i < L->done->nelts; i++) {
            drop_job(L, APR_ARRAY_IDX(L->done, i, ljob_t *));
        }
        apr_array_clear(L->done);
    }
    for (i = 0; i < R.settled->nelts; i++) {
        drop_job(L, APR_ARRAY_IDX(R.settled, i, ljob_t *));
    }
    st->claimed += (apr_uint64_t)R.claimed;
    st->done += (apr_uint64_t)R.done;
    st->failed += (apr_uint64_t)R.failed;
    st->canceled += (apr_uint64_t)R.canceled;
    st->rejected += (apr_uint64_t)R.rejected;
    st->retries += (apr_uint64_t)R.retries;
    if (R.claimed) {
        st->last_claim = now;
    }
    L->next_due = tmin(L->next_due, R.due);
    release_jobs(L, R.lost);
    for (i = 0; i < R.start->nelts; i++) {
        start_call(L, APR_ARRAY_IDX(R.start, i, ljob_t *), now);
    }
}

/* Extends the leases of jobs in flight and aborts the calls of jobs that
 * were canceled (or whose lease was lost). */
static void renew(loop_t *L, apr_time_t now)
{
    apr_pool_t *p = L->iter;
    apr_array_header_t *ids = apr_array_make(p, 16, sizeof(char *));
    apr_array_header_t *gone = apr_array_make(p, 2, sizeof(void *));
    apr_hash_index_t *hi;
    apr_hash_t *alive;
    int i;

    L->next_renew = now + L->renew_every;
    L->last_check = now;
    L->check_now = 0;
    for (hi = apr_hash_first(p, L->jobs); hi; hi = apr_hash_next(hi)) {
        ljob_t *lj = apr_hash_this_val(hi);
        APR_ARRAY_PUSH(ids, const char *) = lj->job->id;
    }
    if (!ids->nelts
        || db_check(L, webot_store_worker_renew(L->db, p, L->owner, ids,
                                                G.lease, &alive),
                    "renewing leases")) {
        return;
    }
    for (hi = apr_hash_first(p, L->jobs); hi; hi = apr_hash_next(hi)) {
        ljob_t *lj = apr_hash_this_val(hi);
        webot_wlease_t *l = apr_hash_get(alive, lj->job->id,
                                         APR_HASH_KEY_STRING);
        if (lj->has_result) {
            continue;
        }
        if (!l || strcmp(l->status, "running") || l->cancel_requested) {
            APR_ARRAY_PUSH(gone, ljob_t *) = lj;
            APR_ARRAY_PUSH(gone, webot_wlease_t *) = l;
        }
    }
    for (i = 0; i < gone->nelts; i += 2) {
        ljob_t *lj = APR_ARRAY_IDX(gone, i, ljob_t *);
        webot_wlease_t *l = APR_ARRAY_IDX(gone, i + 1, webot_wlease_t *);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, L->s, APLOGNO(30709)
                     "webot worker: job %s %s; executor call aborted",
                     lj->job->id, !l ? "is no longer leased to this worker"
                     : l->cancel_requested ? "was canceled"
                     : apr_pstrcat(p, "is now ", l->status, NULL));
        if (l && l->cancel_requested && !strcmp(l->status, "running")) {
            apr_array_header_t *one = apr_array_make(p, 1, sizeof(void *));
            webot_wmove_t *m = new_move(p, lj->job->id, "running",
                                        "canceled");
            m->release = 1;
            add_event(p, m, "canceled", NULL);
            APR_ARRAY_PUSH(one, webot_wmove_t *) = m;
            if (db_check(L, webot_store_worker_move(L->db, p, L->owner, one),
                         "canceling a job")) {
                return;
            }
        }
        L->w->stats->canceled++;
        drop_job(L, lj);
    }
}

static void beat(loop_t *L, apr_time_t now)
{
    webot_wstats_t st;
    wstats_t *s = L->w->stats;

    L->next_beat = now + BEAT_INTERVAL;
    st.claimed = (long long)s->claimed;
    st.done = (long long)s->done;
    st.failed = (long long)s->failed;
    st.retries = (long long)s->retries;
    st.running = L->ncalls;
    if (!db_check(L, webot_store_worker_beat(L->db, L->iter,
                                             L->w->worker_id, L->w->host,
                                             (int)getpid(), L->owner,
                                             L->beat_starting, &st),
                  "heartbeat")) {
        L->beat_starting = 0;
        s->last_beat = now;
    }
}

static void housekeep(loop_t *L, apr_time_t now)
{
    int idem = 0, ses = 0, other = 0, files;
    L->next_housekeep = now + apr_time_from_sec(G.housekeeping);
    if (db_check(L, webot_store_worker_housekeep(L->db, L->iter,
                         HOUSEKEEP_LIMIT, &idem, &ses, &other),
                 "housekeeping")) {
        return;
    }
    files = webot_files_housekeeping(L->s, L->db, L->iter, 100);
    if (idem || ses || other || files > 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, L->s, APLOGNO(30710)
                     "webot worker housekeeping: %d idempotency records "
                     "purged, %d sessions ended, %d other rows removed, %d "
                     "upload contracts settled", idem, ses, other,
                     files > 0 ? files : 0);
    }
}

static int mpm_stopping(void)
{
    int st = AP_MPMQ_RUNNING;
    return ap_mpm_query(AP_MPMQ_MPM_STATE, &st) != APR_SUCCESS
           || st == AP_MPMQ_STOPPING;
}

static void loop_round(loop_t *L)
{
    apr_time_t now = apr_time_now(), until, dl = 0;
    struct curl_waitfd wfd;
    int nwfd = 0, still = 0, numfds = 0, free_slots, do_claim;
    long timeout_ms;

    apr_pool_clear(L->iter);
    if (!L->stopping && (L->w->stop || mpm_stopping())) {
        L->stopping = 1;
        L->stop_started = now;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, L->s, APLOGNO(30711)
                     "webot worker: stopping (%s); %d call%s in flight",
                     L->w->graceful ? "graceful" : "now", L->ncalls,
                     L->ncalls == 1 ? "" : "s");
    }
    if (!L->db && now >= L->next_connect) {
        db_connect(L);
    }
    curl_multi_perform(L->multi, &still);
    reap(L);
    free_slots = G.concurrency - (int)apr_hash_count(L->jobs)
                 + L->done->nelts;
    do_claim = L->db && !L->stopping && free_slots > 0
               && (L->wake || L->more || now >= L->next_poll
                   || now >= L->next_due);
    if (L->db && (L->done->nelts || do_claim) && now >= L->next_round) {
        /* Batching: while calls are in flight, a round (one commit) waits
         * up to BATCH_DELAY for their results too. */
        if (!L->pending_since) {
            L->pending_since = now;
        }
        if (!L->ncalls || L->stopping
            || now - L->pending_since >= BATCH_DELAY) {
            round_tx(L, now, do_claim);
            L->pending_since = 0;
        }
    }
    else {
        L->pending_since = 0;
    }
    if (L->db && apr_hash_count(L->jobs)
        && (now >= L->next_renew
            || (L->check_now && now - L->last_check >= CHECK_MIN_GAP))) {
        renew(L, now);
    }
    if (L->db && now >= L->next_beat) {
        beat(L, now);
    }
    if (L->db && !L->stopping && now >= L->next_housekeep) {
        housekeep(L, now);
    }
    drain_notifies(L);

    /* how long to wait */
    free_slots = G.concurrency - (int)apr_hash_count(L->jobs)
                 + L->done->nelts;
    until = now + apr_time_from_sec(1);
    if (!L->db) {
        until = tmin(until, L->next_connect);
    }
    else {
        int claim_due = !L->stopping && free_slots > 0
                        && (L->wake || L->more || now >= L->next_poll
                            || now >= L->next_due);
        if (now < L->next_round) {
            until = tmin(until, L->next_round);
        }
        else if (L->done->nelts || claim_due) {
            if (!L->pending_since) {
                L->pending_since = now;
            }
            until = !L->ncalls || L->stopping
                    ? now : tmin(until, L->pending_since + BATCH_DELAY);
        }
        else if (!L->stopping && free_slots > 0) {
            until = tmin(until, tmin(L->next_poll, L->next_due));
        }
        if (apr_hash_count(L->jobs)) {
            until = tmin(until, L->check_now ? L->last_check + CHECK_MIN_GAP
                                             : L->next_renew);
        }
        until = tmin(until, L->next_beat);
    }
    if (L->stopping) {
        dl = L->stop_started + (L->w->graceful
             ? apr_time_from_sec(G.t_total) + apr_time_from_sec(2)
             : UNGRACEFUL_DRAIN);
        until = tmin(until, dl);
        if (L->w->stop && !L->ncalls && !L->done->nelts) {
            return;
        }
    }
    timeout_ms = until > now ? (long)((until - now + 999) / 1000) : 0;
    if (L->pg) {
        wfd.fd = PQsocket(L->pg);
        wfd.events = CURL_WAIT_POLLIN;
        wfd.revents = 0;
        nwfd = wfd.fd >= 0 ? 1 : 0;
    }
    if (timeout_ms > 0) {
        curl_multi_poll(L->multi, nwfd ? &wfd : NULL, (unsigned)nwfd,
                        (int)timeout_ms, &numfds);
    }
    if (L->pg && (timeout_ms == 0 || (nwfd && wfd.revents))) {
        if (!PQconsumeInput(L->pg)) {
            db_down(L, "reading notifications");
        }
        else {
            drain_notifies(L);
        }
    }
}

/* Whether the loop is done: a stop was asked for and nothing is in flight,
 * or the drain deadline passed. */
static int loop_finished(loop_t *L)
{
    apr_time_t dl;
    if (!L->stopping) {
        return 0;
    }
    if (!L->ncalls && !L->done->nelts) {
        return 1;
    }
    dl = L->stop_started + (L->w->graceful
         ? apr_time_from_sec(G.t_total) + apr_time_from_sec(2)
         : UNGRACEFUL_DRAIN);
    return apr_time_now() >= dl || (!L->db && !L->ncalls);
}

static void loop_end(loop_t *L)
{
    apr_array_header_t *left;
    apr_hash_index_t *hi;
    int i, aborted = 0;

    apr_pool_clear(L->iter);
    if (L->db && L->done->nelts) {
        round_tx(L, apr_time_now(), 0);
    }
    left = apr_array_make(L->iter, 8, sizeof(void *));
    for (hi = apr_hash_first(L->iter, L->jobs); hi; hi = apr_hash_next(hi)) {
        ljob_t *lj = apr_hash_this_val(hi);
        aborted += lj->call != NULL;
        APR_ARRAY_PUSH(left, ljob_t *) = lj;
    }
    /* Results not written (database gone) are dropped with their jobs: the
     * leases run out and the jobs are executed again. */
    for (i = 0; i < left->nelts; i++) {
        ljob_t *lj = APR_ARRAY_IDX(left, i, ljob_t *);
        if (lj->call) {
            curl_multi_remove_handle(L->multi,
                                     webot_exec_call_easy(lj->call));
            webot_exec_call_destroy(lj->call);
            lj->call = NULL;
            L->ncalls--;
        }
    }
    stat_running(L);
    release_jobs(L, left);
    if (L->db) {
        beat(L, apr_time_now());
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, L->s, APLOGNO(30712)
                 "webot worker stopped (%d call%s aborted, %d lease%s "
                 "given back)", aborted, aborted == 1 ? "" : "s",
                 left->nelts, left->nelts == 1 ? "" : "s");
    db_close(L);
}

static void run_loop(wctx_t *w)
{
    apr_allocator_t *alloc;
    apr_pool_t *p;
    loop_t *L;
    webot_srv_cfg *sc = ap_get_module_config(w->s->module_config,
                                             &webot_module);

    if (apr_allocator_create(&alloc) != APR_SUCCESS) {
        return;
    }
    if (apr_pool_create_unmanaged_ex(&p, NULL, alloc) != APR_SUCCESS) {
        apr_allocator_destroy(alloc);
        return;
    }
    apr_allocator_owner_set(alloc, p);
    apr_pool_tag(p, "webot_worker");
    L = apr_pcalloc(p, sizeof(*L));
    L->w = w;
    L->s = w->s;
    L->cat = sc->catalog;
    L->p = p;
    apr_pool_create(&L->iter, p);
    apr_pool_tag(L->iter, "webot_worker_round");
    L->jobs = apr_hash_make(p);
    L->done = apr_array_make(p, 16, sizeof(void *));
    L->owner = apr_psprintf(p, "%s:%d:%.8s", w->worker_id, (int)getpid(),
                            webot_id_new(p, "") ? webot_id_new(p, "")
                                                : "00000000");
    L->rnd = (unsigned)apr_time_now() ^ ((unsigned)getpid() << 16) ^ 1u;
    L->opts.secret = G.secret;
    L->opts.secret_len = G.secret_len;
    L->opts.connect_timeout_ms = G.t_connect * 1000;
    L->opts.total_timeout_ms = G.t_total * 1000;
    L->opts.stall_secs = G.t_stall;
    L->opts.max_response = (apr_size_t)G.max_response;
    L->opts.user_agent = "mod_webot-worker/1";
    L->renew_every = apr_time_from_sec(G.lease / 3 > 2 ? 2 : 1);
    L->connect_backoff = apr_time_from_msec(250);
    L->next_due = APR_INT64_MAX;
    L->next_housekeep = apr_time_now() + apr_time_from_sec(5);
    L->beat_starting = 1;
    L->wake = 1;
    if (!(L->multi = curl_multi_init())) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, w->s, APLOGNO(30713)
                     "webot worker: curl_multi_init failed");
        apr_pool_destroy(p);
        return;
    }
    curl_multi_setopt(L->multi, CURLMOPT_MAXCONNECTS,
                      (long)(G.concurrency + 4));

    apr_thread_mutex_lock(w->mu);
    if (w->stop) {
        apr_thread_mutex_unlock(w->mu);
        curl_multi_cleanup(L->multi);
        apr_pool_destroy(p);
        return;
    }
    w->running = 1;
    w->multi = L->multi;
    apr_thread_mutex_unlock(w->mu);

    w->stats->leader_pid = (apr_uint32_t)getpid();
    w->stats->started = apr_time_now();
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, w->s, APLOGNO(30714)
                 "webot worker started in process %d (concurrency %d, "
                 "lease %d s, poll %d s, %d attempts)", (int)getpid(),
                 G.concurrency, G.lease, G.poll, G.attempts);
    while (!loop_finished(L)) {
        loop_round(L);
    }
    loop_end(L);
    w->stats->leader_pid = 0;
    w->stats->running = 0;

    apr_thread_mutex_lock(w->mu);
    w->multi = NULL;
    w->running = 0;
    apr_thread_cond_broadcast(w->cv);
    apr_thread_mutex_unlock(w->mu);
    curl_multi_cleanup(L->multi);
    apr_pool_destroy(p);
}

/* --- stopping ----------------------------------------------------------------- */

static void request_stop(wctx_t *w, int graceful)
{
    apr_thread_mutex_lock(w->mu);
    if (graceful) {
        w->graceful = 1;
    }
    w->stop = 1;
    if (w->multi) {
        curl_multi_wakeup(w->multi);
    }
    apr_thread_mutex_unlock(w->mu);
}

/* Waits until the loop has ended (it bounds its own drain). */
static void wait_stopped(wctx_t *w)
{
    apr_time_t limit = apr_time_now() + (w->graceful
        ? apr_time_from_sec(G.t_total + 60) : apr_time_from_sec(30));
    apr_thread_mutex_lock(w->mu);
    while (w->running && apr_time_now() < limit) {
        apr_thread_cond_timedwait(w->cv, w->mu, apr_time_from_msec(200));
    }
    apr_thread_mutex_unlock(w->mu);
}

static apr_status_t wd_callback(int state, void *data, apr_pool_t *pool)
{
    wctx_t *w = data;
    (void)pool;
    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, w->s, APLOGNO(30715)
                     "webot worker: process %d leads", (int)getpid());
        break;
    case AP_WATCHDOG_STATE_RUNNING:
        if (!w->stop && !mpm_stopping()) {
            run_loop(w);
        }
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        /* May run in another thread while RUNNING is still executing. */
        request_stop(w, 0);
        wait_stopped(w);
        break;
    }
    return APR_SUCCESS;
}

static apr_status_t child_cleanup(void *data)
{
    wctx_t *w = data;
    request_stop(w, 0);
    wait_stopped(w);
    return APR_SUCCESS;
}

static void worker_child_stopping(apr_pool_t *pchild, int graceful)
{
    (void)pchild;
    if (W) {
        request_stop(W, graceful);
    }
}

static void worker_child_init(apr_pool_t *pchild, server_rec *s)
{
    (void)s;
    if (W) {
        W->stop = 0;
        W->graceful = 0;
        W->running = 0;
        W->multi = NULL;
        apr_pool_pre_cleanup_register(pchild, W, child_cleanup);
    }
}

/* --- configuration hooks ---------------------------------------------------------- */

static int worker_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    memset(&G, 0, sizeof(G));
    G.enabled = WEBOT_UNSET;
    G.concurrency = 10;
    G.lease = 60;
    G.poll = 10;
    G.attempts = 5;
    G.housekeeping = 300;
    G.backoff_base = 10;
    G.backoff_max = 600;
    G.t_total = 120;
    G.t_connect = 10;
    G.t_stall = 120;
    G.max_response = 1048576;
    G.rules = apr_array_make(pconf, 4, sizeof(exec_rule_t));
    W = NULL;
    return OK;
}

/* Checks that span directives; runs for `apachectl configtest` too. */
static int worker_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    webot_srv_cfg *sc = ap_get_module_config(s->module_config,
                                             &webot_module);
    int i, any_url = 0;

    (void)pconf;
    (void)plog;
    (void)ptemp;
    for (i = 0; i < G.rules->nelts; i++) {
        const exec_rule_t *r = &APR_ARRAY_IDX(G.rules, i, exec_rule_t);
        any_url |= r->url != NULL;
        if (strcmp(r->family, "*") && sc->catalog
            && !apr_hash_get(sc->catalog->families_by_id, r->family,
                             APR_HASH_KEY_STRING)) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(30716)
                         "WebotExecutor: %s is not a service family of the "
                         "catalog %s", r->family, sc->catalog->path);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (any_url && !G.secret) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(30717)
                     "WebotExecutor names a URL but WebotExecutorSecretFile "
                     "is not set: executor calls must be signed");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static int worker_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *wd_get;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *wd_reg;
    webot_srv_cfg *sc = ap_get_module_config(s->module_config,
                                             &webot_module);
    ap_watchdog_t *wd = NULL;
    apr_shm_t *shm = NULL;
    char host[256];
    apr_status_t rv;

    (void)plog;
    (void)ptemp;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    w_dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    w_dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (G.enabled == 0 || !sc->catalog || !sc->secret) {
        return OK;                  /* no worker in this instance */
    }
    wd_get = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    wd_reg = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!wd_get || !wd_reg) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(30718)
                     "WebotWorker On needs mod_watchdog (load it, or set "
                     "WebotWorker Off)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    W = apr_pcalloc(pconf, sizeof(*W));
    W->s = s;
    if ((rv = apr_thread_mutex_create(&W->mu, APR_THREAD_MUTEX_DEFAULT,
                                      pconf)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&W->cv, pconf)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, APLOGNO(30719)
                     "webot worker: cannot create its mutex");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (apr_shm_create(&shm, sizeof(wstats_t), NULL, pconf) == APR_SUCCESS) {
        W->stats = apr_shm_baseaddr_get(shm);
        memset(W->stats, 0, sizeof(wstats_t));
    }
    else {
        W->stats = &no_stats;       /* status shows this process only */
    }
    if (apr_gethostname(host, sizeof(host), pconf) != APR_SUCCESS) {
        apr_cpystrn(host, "localhost", sizeof(host));
    }
    W->host = apr_pstrdup(pconf, host);
    W->worker_id = apr_psprintf(pconf, "%s:%d", host, (int)getpid());
    if ((rv = wd_get(&wd, WORKER_WATCHDOG, 0, 1, pconf)) != APR_SUCCESS
        || (rv = wd_reg(wd, apr_time_from_sec(1), W, wd_callback))
           != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, APLOGNO(30720)
                     "webot worker: cannot register with mod_watchdog");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* --- visibility -------------------------------------------------------------------- */

const char *webot_worker_health(server_rec *s, webot_db_t *db,
                                apr_pool_t *p, webot_dbrc_e *rc)
{
    const char *state = NULL;
    (void)s;
    *rc = WEBOT_DB_OK;
    if (!W) {
        return "off";
    }
    *rc = webot_store_worker_state(db, p, W->worker_id, STALE_SECS, &state);
    return *rc == WEBOT_DB_OK ? state : NULL;
}

static int worker_status_hook(request_rec *r, int flags)
{
    wstats_t *st = W ? W->stats : NULL;
    apr_time_t now = apr_time_now();
    long beat_age = st && st->last_beat
                    ? (long)apr_time_sec(now - st->last_beat) : -1;
    const char *state = !W ? "off"
        : !st->leader_pid ? "idle"
        : !st->db_ok ? "waiting for the database" : "running";

    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "WebotWorker: %s\n", W ? "on" : "off");
        if (!W) {
            return OK;
        }
        ap_rprintf(r, "WebotWorkerState: %s\n"
                   "WebotWorkerLeaderPID: %u\n"
                   "WebotWorkerRunning: %u\n"
                   "WebotWorkerClaimed: %" APR_UINT64_T_FMT "\n"
                   "WebotWorkerDone: %" APR_UINT64_T_FMT "\n"
                   "WebotWorkerFailed: %" APR_UINT64_T_FMT "\n"
                   "WebotWorkerRetries: %" APR_UINT64_T_FMT "\n"
                   "WebotWorkerCanceled: %" APR_UINT64_T_FMT "\n"
                   "WebotWorkerRejected: %" APR_UINT64_T_FMT "\n"
                   "WebotWorkerReleased: %" APR_UINT64_T_FMT "\n"
                   "WebotWorkerHeartbeatAge: %ld\n", state,
                   (unsigned)st->leader_pid, (unsigned)st->running,
                   (apr_uint64_t)st->claimed, (apr_uint64_t)st->done,
                   (apr_uint64_t)st->failed, (apr_uint64_t)st->retries,
                   (apr_uint64_t)st->canceled, (apr_uint64_t)st->rejected,
                   (apr_uint64_t)st->released, beat_age);
        return OK;
    }
    ap_rputs("<hr />\n<h2>mod_webot job worker</h2>\n", r);
    if (!W) {
        ap_rputs("<p>Off in this instance (WebotWorker Off).</p>\n", r);
        return OK;
    }
    ap_rprintf(r, "<dl><dt>State: %s; worker %s, leader process %u</dt>\n"
               "<dt>Executor calls in flight: %u (concurrency %d)</dt>\n"
               "<dt>Claimed %" APR_UINT64_T_FMT ", done %" APR_UINT64_T_FMT
               ", failed to staff %" APR_UINT64_T_FMT ", retries %"
               APR_UINT64_T_FMT ", canceled %" APR_UINT64_T_FMT
               ", rejected %" APR_UINT64_T_FMT ", leases given back %"
               APR_UINT64_T_FMT "</dt>\n"
               "<dt>Last heartbeat: %s</dt></dl>\n", state,
               ap_escape_html(r->pool, W->worker_id),
               (unsigned)st->leader_pid, (unsigned)st->running,
               G.concurrency, (apr_uint64_t)st->claimed,
               (apr_uint64_t)st->done, (apr_uint64_t)st->failed,
               (apr_uint64_t)st->retries, (apr_uint64_t)st->canceled,
               (apr_uint64_t)st->rejected, (apr_uint64_t)st->released,
               beat_age < 0 ? "none yet"
                            : apr_psprintf(r->pool, "%ld s ago", beat_age));
    return OK;
}

void webot_worker_register_hooks(apr_pool_t *p)
{
    static const char *const succ_wd[] = { "mod_watchdog.c", NULL };
    (void)p;
    ap_hook_pre_config(worker_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(worker_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(worker_post_config, NULL, succ_wd, APR_HOOK_MIDDLE);
    ap_hook_child_init(worker_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_stopping(worker_child_stopping, NULL, NULL,
                           APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, worker_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
