/* mod_webot_jobs.c: the jobs API handlers: create (idempotency, quota,
 * active-job limit), list (keyset pages, HMAC cursors), get, events (JSON;
 * the SSE stream is mod_webot_sse.c), approve / cancel / revision,
 * preflight and usage. Parse → authorize (the gate has run) → store →
 * render; SQL lives in webot_store_jobs.c. */
#include "mod_webot.h"
#include "mod_webot_jobs.h"
#include "mod_webot_files.h"
#include "webot_job.h"
#include "webot_cursor.h"
#include "webot_idem.h"
#include "webot_jobcheck.h"
#include "webot_store_jobs.h"
#include "webot_batchq.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <pthread.h>
#include <stdlib.h>

#define EVENTS_MAX 1000         /* events in one JSON answer */
#define USAGE_RECENT 20

/* --- helpers ------------------------------------------------------------- */

/* The API mount of this request, for links ("/api/v1"). */
static const char *api_base(webot_req_t *wr)
{
    webot_dir_cfg *dc = ap_get_module_config(wr->r->per_dir_config,
                                             &webot_module);
    if (dc && dc->location && strcmp(dc->location, "/")
        && wr->route && wr->route->mount == WEBOT_MOUNT_API) {
        return dc->location;
    }
    return webot_mount_default[WEBOT_MOUNT_API];
}

static int send_text(webot_req_t *wr, int status, const char *text)
{
    return webot_send_bytes(wr, status, "application/json", text,
                            strlen(text), NULL);
}

static char *dump_compact(apr_pool_t *p, const json_t *j, const char *dflt)
{
    char *s, *out;
    if (!j) {
        return apr_pstrdup(p, dflt);
    }
    s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        return apr_pstrdup(p, dflt);
    }
    out = apr_pstrdup(p, s);
    free(s);
    return out;
}

static int db_fail(webot_req_t *wr, webot_dbrc_e rc)
{
    if (wr->db) {
        webot_db_rollback(wr->db, wr->p);
    }
    return webot_send_error(wr, webot_db_error(wr->p, rc));
}

/* The Idempotency-Key header: NULL when absent; *bad when malformed. */
static const char *idem_key_of(webot_req_t *wr, int *bad)
{
    const char *k = apr_table_get(wr->r->headers_in, "Idempotency-Key");
    *bad = k && !webot_idempotency_key_valid(k);
    return k;
}

static int idem_key_error(webot_req_t *wr, int missing)
{
    webot_error_t *e = webot_error_make(wr->p, "IDEMPOTENCY_KEY_REQUIRED",
        missing
        ? "This request needs an Idempotency-Key header: 16 to 128 "
          "characters of A-Z, a-z, 0-9, '.', '_', ':' and '-', new for "
          "each job you mean to create."
        : "The Idempotency-Key header is malformed: it must be 16 to 128 "
          "characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'.");
    e->param = "Idempotency-Key";
    return webot_send_error(wr, e);
}

/* An earlier record under the key: replay it, or refuse. */
static int idem_answer(webot_req_t *wr, const char *fp_hex,
                       const char *rec_fp, const char *rec_status,
                       int rec_http, const char *rec_body)
{
    if (!rec_fp || strcmp(rec_fp, fp_hex)) {
        webot_error_t *e = webot_error_make(wr->p, "IDEMPOTENCY_CONFLICT",
            "This Idempotency-Key was already used with a different "
            "request; use a new key for a new request.");
        e->param = "Idempotency-Key";
        return webot_send_error(wr, e);
    }
    if (!rec_status || strcmp(rec_status, "done") || !rec_body
        || rec_http < 200 || rec_http > 599) {
        return webot_fail(wr, "IDEMPOTENCY_IN_PROGRESS",
            "A request with this Idempotency-Key is still being processed; "
            "retry in a moment.");
    }
    apr_table_setn(wr->r->headers_out, "Idempotent-Replayed", "true");
    return send_text(wr, rec_http, rec_body);
}

static int in_progress(webot_req_t *wr)
{
    webot_error_t *e = webot_error_make(wr->p, "IDEMPOTENCY_IN_PROGRESS",
        "A request with this Idempotency-Key is still being processed; "
        "retry in a moment.");
    e->param = "Idempotency-Key";
    e->retry_after = 1;
    return webot_send_error(wr, e);
}

static webot_db_t *db_of(webot_req_t *wr, webot_error_t **err)
{
    *err = NULL;
    return webot_req_db(wr, err);
}

/* "{a,b}": a text[] literal of ids that match ^file_[a-z2-7]{26}$ (the
 * schema checked them), so they need no quoting. */
static const char *file_ids_sql(apr_pool_t *p, const json_t *arr)
{
    const char *out = "{";
    size_t i;
    for (i = 0; json_is_array(arr) && i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        out = apr_pstrcat(p, out, i ? "," : "", s ? s : "", NULL);
    }
    return apr_pstrcat(p, out, "}", NULL);
}

static const char *rfc_us(apr_pool_t *p, apr_time_t t)
{
    return webot_time_rfc3339(p, t, 1);
}

/* --- POST /jobs ------------------------------------------------------------ */

static int quota_refusal(webot_req_t *wr, int used, int limit)
{
    webot_error_t *e = webot_error_make(wr->p, "QUOTA_EXCEEDED",
        "Monthly job quota is used up (%d of %d).",
        used > limit ? used : limit, limit);
    return webot_send_error(wr, e);
}

static int active_refusal(webot_req_t *wr, int active, int limit)
{
    webot_error_t *e = webot_error_make(wr->p, "ACTIVE_JOB_LIMIT",
        "The plan allows %d active job%s at a time and %d %s queued, "
        "accepted or running; wait until one is delivered or cancel one.",
        limit, limit == 1 ? "" : "s", active, active == 1 ? "is" : "are");
    return webot_send_error(wr, e);
}

/* --- group commit of creations ---------------------------------------------
 *
 * A creation locks its account's job counter from its quota check to its
 * commit, and a commit waits for the disk: one account's creations run one
 * after another, each paying a WAL flush. So creations are run in groups,
 * in one transaction on the connection of the thread that finds no group
 * running in its process (the leader); the others wait. The leader first
 * waits for the creation turn (groups of all processes and hosts take
 * turns), then takes every creation queued so far, and runs them with a
 * fixed number of statements (webot_store_jobs.c): one stages them all
 * (key checked and claimed, rows inserted), then per account one locks the
 * counter and the quota row and one applies the outcome (the first ones the
 * limits still allow are accepted, in arrival order; the others' rows are
 * removed and their refusals recorded), then one commit and one flush for
 * all. Each creation gets exactly the outcome it would have had alone. If
 * anything fails, every item of the group runs alone on its own
 * connection: a creation that did commit is then found by its
 * Idempotency-Key and replayed, so nothing is created twice. */

#define GROUP_MAX 64

enum { CR_QUEUED, CR_TAKEN, CR_DONE, CR_ALONE };

typedef struct create_req {
    const webot_job_create_in_t *in;
    apr_pool_t *p;                  /* the waiting request's pool */
    webot_job_create_out_t out;
    webot_dbrc_e rc;
    int state;
    unsigned long seq;              /* arrival order */
    struct create_req *next;
} create_req;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    WEBOT_BATCHQ(create_req) q;
    int leading;
    unsigned long seq;
} group = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { NULL, NULL },
            0, 0 };

/* Order of the guards: account, period and limits (one guard statement
 * pair per run of equal keys), then arrival. */
static int by_account(const void *a, const void *b)
{
    const create_req *x = *(create_req *const *)a;
    const create_req *y = *(create_req *const *)b;
    int c = strcmp(x->in->account_id, y->in->account_id);
    if (!c) {
        c = strcmp(x->in->period_start, y->in->period_start);
    }
    if (!c) {
        c = x->in->monthly_jobs - y->in->monthly_jobs;
    }
    if (!c) {
        c = x->in->max_active_jobs - y->in->max_active_jobs;
    }
    return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static int same_guard(const create_req *x, const create_req *y)
{
    return !strcmp(x->in->account_id, y->in->account_id)
        && !strcmp(x->in->period_start, y->in->period_start)
        && x->in->monthly_jobs == y->in->monthly_jobs
        && x->in->max_active_jobs == y->in->max_active_jobs;
}

/* Runs a group on the leader's connection, inside the transaction that
 * holds the creation turn; commits it. Leaves every item CR_DONE (rc and
 * out set; created jobs notified) or CR_ALONE. */
static void run_group(webot_req_t *wr, webot_db_t *db, apr_pool_t *tp,
                      create_req **v, int n)
{
    int i, j, k;

    if (n == 1) {
        /* alone: the one-statement creation */
        if (webot_store_job_create(db, v[0]->p, v[0]->in, &v[0]->out)
            != WEBOT_DB_OK) {
            goto failed;
        }
        if (webot_db_commit(db, tp) != WEBOT_DB_OK) {
            goto alone;
        }
        v[0]->rc = WEBOT_DB_OK;
        v[0]->state = CR_DONE;
    }
    else {
        const webot_job_create_in_t **in;
        webot_job_create_out_t **out;
        apr_pool_t **pools;
        create_req **g;
        int *staged, ng = 0;

        in = apr_palloc(tp, sizeof(*in) * (apr_size_t)n);
        out = apr_palloc(tp, sizeof(*out) * (apr_size_t)n);
        pools = apr_palloc(tp, sizeof(*pools) * (apr_size_t)n);
        staged = apr_pcalloc(tp, sizeof(*staged) * (apr_size_t)n);
        g = apr_palloc(tp, sizeof(*g) * (apr_size_t)n);
        for (i = 0; i < n; i++) {
            in[i] = v[i]->in;
            out[i] = &v[i]->out;
            pools[i] = v[i]->p;
        }
        /* 1. stage every item in one statement */
        if (webot_store_jobs_stage(db, tp, in, n, out, pools, staged)
            != WEBOT_DB_OK) {
            goto failed;
        }
        /* 2. guard the staged ones: one lock/apply pair per account,
         * period and limits, accounts in order, items in arrival order */
        for (i = 0; i < n; i++) {
            if (staged[i]) {
                g[ng++] = v[i];
            }
        }
        qsort(g, (size_t)ng, sizeof(*g), by_account);
        for (i = 0; i < ng; i = j) {
            for (j = i + 1; j < ng && same_guard(g[i], g[j]); j++)
                ;
            for (k = i; k < j; k++) {
                in[k - i] = g[k]->in;
                out[k - i] = &g[k]->out;
            }
            if (webot_store_jobs_guard(db, tp, in, j - i, out)
                != WEBOT_DB_OK) {
                goto failed;
            }
        }
        /* 3. one commit for all */
        if (webot_db_commit(db, tp) != WEBOT_DB_OK) {
            goto alone;
        }
        for (i = 0; i < n; i++) {
            v[i]->rc = WEBOT_DB_OK;
            v[i]->state = CR_DONE;
        }
    }
    /* the worker was NOTIFYed (webot_jobs) by the statements, at commit */
    return;
failed:
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, wr->r, APLOGNO(30201)
                  "a group of %d job creations failed; each runs alone "
                  "(request_id %s)", n, wr->request_id);
    webot_db_rollback(db, tp);
alone:
    for (i = 0; i < n; i++) {
        v[i]->state = CR_ALONE;
    }
}

/* Queues me and waits until a group ran it (leading one if none runs). A
 * waiter gives its pooled connection back while it waits (the per-process
 * connection gate then lets other requests in, and they join the group); a
 * leader takes one again if it has none.
 *
 * The leader first waits for the creation turn (an advisory lock held by
 * the group's transaction, see webot_store_jobs_begin_turn): groups of all
 * processes and hosts take turns, and a group takes its items from the
 * queue only once it has the turn, so it carries everything that arrived
 * while the others were committing: one WAL flush per turn. */
static void create_grouped(webot_req_t *wr, create_req *me)
{
    create_req *v[GROUP_MAX];
    webot_error_t *err = NULL;
    webot_db_t *db;
    apr_pool_t *tp;
    int n, i, turn;

    pthread_mutex_lock(&group.mu);
    me->state = CR_QUEUED;
    me->seq = group.seq++;
    WEBOT_BATCHQ_PUSH(&group.q, me);
    while (me->state == CR_QUEUED || me->state == CR_TAKEN) {
        if (group.leading || me->state != CR_QUEUED) {
            if (wr->db) {
                pthread_mutex_unlock(&group.mu);
                webot_req_db_release(wr);
                pthread_mutex_lock(&group.mu);
                continue;
            }
            pthread_cond_wait(&group.cv, &group.mu);
            continue;
        }
        group.leading = 1;
        pthread_mutex_unlock(&group.mu);

        apr_pool_create(&tp, wr->p);
        apr_pool_tag(tp, "webot_job_group");
        db = webot_req_db(wr, &err);
        turn = db && webot_store_jobs_begin_turn(db, tp) == WEBOT_DB_OK;

        pthread_mutex_lock(&group.mu);
        WEBOT_BATCHQ_TAKE(&group.q, v, GROUP_MAX, CR_TAKEN, n);
        pthread_mutex_unlock(&group.mu);

        if (turn) {
            run_group(wr, db, tp, v, n);
        }
        else {
            if (db) {
                webot_db_rollback(db, tp);
            }
            for (i = 0; i < n; i++) {
                v[i]->state = CR_ALONE;     /* each tries its own */
            }
        }
        apr_pool_destroy(tp);

        pthread_mutex_lock(&group.mu);
        group.leading = 0;
        pthread_cond_broadcast(&group.cv);
    }
    pthread_mutex_unlock(&group.mu);
}

int webot_h_job_create(webot_req_t *wr)
{
    webot_auth_t *a = wr->auth;
    webot_jobcheck_t *jc;
    webot_error_t *err;
    webot_job_create_in_t in;
    webot_job_create_out_t out;
    create_req cr;
    webot_job_t job;
    webot_db_t *db;
    webot_dbrc_e rc;
    json_t *intake, *meta, *files;
    apr_time_t now;
    const char *key, *fp;
    char *body;
    int bad, alone;

    key = idem_key_of(wr, &bad);
    if (!key || bad) {
        return idem_key_error(wr, !key);
    }
    if ((err = webot_body_object_error(wr))) {
        return webot_send_error(wr, err);
    }
    jc = webot_jobcheck(wr->p, wr->sc->catalog,
                        webot_route_request_schema(wr->route), wr->body);
    if ((err = webot_jobcheck_error(wr->p, jc))) {
        return webot_send_error(wr, err);
    }
    if (!a->plan || !a->period_start) {
        return webot_fail(wr, "ENTITLEMENT_REQUIRED",
                          "The account has no plan with a job quota.");
    }
    files = json_object_get(wr->body, "file_ids");
    if ((err = webot_files_check_job_files(wr, files))) {
        return webot_send_error(wr, err);
    }
    if (!(db = db_of(wr, &err))) {
        return webot_send_error(wr, err);
    }

    intake = json_object_get(wr->body, "intake");
    meta = json_object_get(wr->body, "metadata");
    now = apr_time_now();
    memset(&in, 0, sizeof(in));
    in.account_id = a->account_id;
    in.idem_key = key;
    in.job_id = webot_id_new(wr->p, "job_");
    in.event_id = webot_id_new(wr->p, "evt_");
    in.usage_id = webot_id_new(wr->p, "ue_");
    in.reject_id = webot_id_new(wr->p, "ue_");
    if (!in.job_id || !in.event_id || !in.usage_id || !in.reject_id) {
        return webot_fail(wr, "INTERNAL_ERROR",
                          "An internal error occurred; it has been logged.");
    }
    in.service_family = jc->option->family->id;
    in.service_option = jc->option->id;
    in.title = webot_json_str(wr->body, "title");
    in.intake_json = dump_compact(wr->p, intake, "{}");
    in.file_ids_sql = file_ids_sql(wr->p, files);
    in.metadata_json = dump_compact(wr->p, meta, "{}");
    in.max_revisions = a->max_revisions;
    in.period_start = rfc_us(wr->p, a->period_start);
    in.period_end = rfc_us(wr->p, a->period_end);
    in.monthly_jobs = a->monthly_jobs;
    in.max_active_jobs = a->max_active_jobs;
    in.created_at = rfc_us(wr->p, now);
    in.event_message = webot_job_event_message("job.queued", 0);

    /* The 201 body is known before the insert (the job's creation time is
     * ours), so the key's record stores it in the same statement. */
    memset(&job, 0, sizeof(job));
    job.id = in.job_id;
    job.status = "queued";
    job.service_family = in.service_family;
    job.service_option = in.service_option;
    job.title = in.title;
    job.intake_json = in.intake_json;
    job.file_ids_json = dump_compact(wr->p, files, "[]");
    job.metadata_json = in.metadata_json;
    job.max_revisions = in.max_revisions;
    job.created_at = webot_time_rfc3339(wr->p, now, 0);
    job.updated_at = job.created_at;
    body = webot_job_render(wr->p, &job, api_base(wr));
    in.response_body = body;
    fp = webot_idem_fingerprint_hex(wr->p, "POST", "/jobs", wr->body);
    in.fingerprint_hex = fp;

    memset(&cr, 0, sizeof(cr));
    cr.in = &in;
    cr.p = wr->p;
    create_grouped(wr, &cr);
    alone = cr.state == CR_ALONE;
    if ((alone || cr.rc == WEBOT_DB_ERROR) && !(db = db_of(wr, &err))) {
        return webot_send_error(wr, err);
    }
    rc = alone ? webot_store_job_create(db, wr->p, &in, &out) : cr.rc;
    if (!alone) {
        out = cr.out;
    }
    if (rc == WEBOT_DB_ERROR) {
        /* A request with the same key committed between this statement's
         * snapshot and its claim of the key: the key's unique index
         * refused the second record and nothing was written. */
        webot_idem_rec_t rec;
        if (webot_store_idem_get(db, wr->p, a->account_id, key, &rec)
            == WEBOT_DB_OK && rec.found) {
            return idem_answer(wr, fp, rec.fingerprint, rec.status,
                               rec.response_status, rec.response_body);
        }
    }
    if (rc != WEBOT_DB_OK) {
        return db_fail(wr, rc);
    }
    switch (out.result) {
    case WEBOT_CREATE_REPLAY:
        return idem_answer(wr, fp, out.idem_fingerprint, out.idem_status,
                           out.idem_response_status, out.idem_response_body);
    case WEBOT_CREATE_IN_PROGRESS:
        return in_progress(wr);
    case WEBOT_CREATE_QUOTA:
        return quota_refusal(wr, out.quota_used, in.monthly_jobs);
    case WEBOT_CREATE_ACTIVE_LIMIT:
        return active_refusal(wr, out.active, in.max_active_jobs);
    case WEBOT_CREATE_CREATED:
        break;
    }
    apr_table_setn(wr->r->headers_out, "Location",
                   apr_pstrcat(wr->p, api_base(wr), "/jobs/", in.job_id,
                               NULL));
    return send_text(wr, HTTP_CREATED, body);
}

/* --- GET /jobs --------------------------------------------------------------- */

static int bad_query(webot_req_t *wr, const char *param, const char *fmt,
                     const char *value)
{
    webot_error_t *e = webot_error_make(wr->p, "BAD_REQUEST", "%s", "");
    e->message = apr_psprintf(wr->p, fmt, value ? value : "");
    webot_error_add_param(wr->p, e, param, e->message);
    e->param = param;
    return webot_send_error(wr, e);
}

/* status=a,b: every item a known status; *sql is the text[] literal and
 * *canon the sorted, de-duplicated list (for the cursor's scope). */
static int parse_statuses(apr_pool_t *p, const char *v, const char **sql,
                          const char **canon)
{
    int seen[WEBOT_JOB_NSTATUS] = { 0 };
    char *copy = apr_pstrdup(p, v), *tok, *last = NULL;
    const char *out = NULL;
    int i, n = 0;

    for (tok = apr_strtok(copy, ",", &last); tok;
         tok = apr_strtok(NULL, ",", &last)) {
        int st;
        while (apr_isspace(*tok)) {
            tok++;
        }
        for (i = (int)strlen(tok); i > 0 && apr_isspace(tok[i - 1]); i--) {
            tok[i - 1] = '\0';
        }
        if ((st = webot_job_status_parse(tok)) < 0) {
            return -1;
        }
        seen[st] = 1;
        n++;
    }
    if (!n) {
        return -1;
    }
    for (i = 0; i < WEBOT_JOB_NSTATUS; i++) {
        if (seen[i]) {
            out = out ? apr_pstrcat(p, out, ",", webot_job_status_name(i),
                                    NULL)
                      : webot_job_status_name(i);
        }
    }
    *canon = out;
    *sql = apr_pstrcat(p, "{", out, "}", NULL);
    return 0;
}

static const char *time_param(webot_req_t *wr, apr_table_t *q,
                              const char *name, int *bad)
{
    const char *v = q ? apr_table_get(q, name) : NULL;
    apr_time_t t;
    *bad = 0;
    if (!v) {
        return NULL;
    }
    if (webot_time_parse(v, &t)) {
        *bad = 1;
        return v;
    }
    return rfc_us(wr->p, t);
}

int webot_h_jobs_list(webot_req_t *wr)
{
    apr_table_t *q = webot_query(wr);
    webot_job_filter_t f;
    apr_array_header_t *rows, *buf;
    webot_error_t *err;
    webot_db_t *db;
    webot_dbrc_e rc;
    const char *v, *canon = "", *scope, *next = NULL;
    long long limit = 20;
    int bad, has_more = 0, i;

    memset(&f, 0, sizeof(f));
    if (q && (v = apr_table_get(q, "status"))
        && parse_statuses(wr->p, v, &f.statuses_sql, &canon)) {
        return bad_query(wr, "status", "status must be a comma list of "
            "job statuses (queued, accepted, running, needs_review, "
            "ready_for_customer_review, completed, rejected, canceled); got "
            "\"%s\".", ap_escape_logitem(wr->p, v));
    }
    if (q && (v = apr_table_get(q, "service_option"))) {
        if (!webot_catalog_option(wr->sc->catalog, v)) {
            return bad_query(wr, "service_option", "service_option \"%s\" "
                "is not a service option of GET /api/v1/catalog.",
                ap_escape_logitem(wr->p, v));
        }
        f.service_option = v;
    }
    f.created_after = time_param(wr, q, "created_after", &bad);
    if (bad) {
        return bad_query(wr, "created_after", "created_after must be an "
            "RFC 3339 time such as 2026-03-01T00:00:00Z; got \"%s\".",
            ap_escape_logitem(wr->p, f.created_after));
    }
    f.created_before = time_param(wr, q, "created_before", &bad);
    if (bad) {
        return bad_query(wr, "created_before", "created_before must be an "
            "RFC 3339 time such as 2026-03-01T00:00:00Z; got \"%s\".",
            ap_escape_logitem(wr->p, f.created_before));
    }
    if (q && (v = apr_table_get(q, "limit"))
        && webot_parse_int(v, 1, 100, &limit)) {
        return bad_query(wr, "limit", "limit must be an integer from 1 to "
            "100; got \"%s\".", ap_escape_logitem(wr->p, v));
    }
    f.limit = (int)limit;
    scope = apr_pstrcat(wr->p, "jobs|s=", canon, "|o=",
                        f.service_option ? f.service_option : "", "|a=",
                        f.created_after ? f.created_after : "", "|b=",
                        f.created_before ? f.created_before : "", NULL);
    if (q && (v = apr_table_get(q, "cursor"))
        && webot_cursor_decode(wr->p, wr->sc->secret, wr->sc->secret_len,
                               wr->auth->account_id, scope, v, &f.cursor_ts,
                               &f.cursor_id)) {
        return bad_query(wr, "cursor", "%sThe cursor is not valid for this "
            "list: pass next_cursor unchanged, with the same filters and "
            "the same account.", "");
    }
    if (!(db = db_of(wr, &err))) {
        return webot_send_error(wr, err);
    }
    rc = webot_store_jobs_list(db, wr->p, wr->auth->account_id, &f, &rows,
                               &has_more);
    if (rc != WEBOT_DB_OK) {
        return db_fail(wr, rc);
    }
    buf = apr_array_make(wr->p, 4096, 1);
    webot_buf_puts(buf, "{\"data\":[");
    for (i = 0; i < rows->nelts; i++) {
        webot_job_row_t *r = APR_ARRAY_IDX(rows, i, webot_job_row_t *);
        if (i) {
            webot_buf_puts(buf, ",");
        }
        webot_buf_puts(buf, webot_job_render(wr->p, &r->job, api_base(wr)));
    }
    if (has_more && rows->nelts) {
        webot_job_row_t *last = APR_ARRAY_IDX(rows, rows->nelts - 1,
                                              webot_job_row_t *);
        next = webot_cursor_encode(wr->p, wr->sc->secret, wr->sc->secret_len,
                                   wr->auth->account_id, scope,
                                   last->created_us, last->job.id);
    }
    webot_buf_puts(buf, "],\"has_more\":");
    webot_buf_puts(buf, has_more ? "true" : "false");
    webot_buf_puts(buf, ",\"next_cursor\":");
    if (next) {
        webot_json_quote(buf, next);
    }
    else {
        webot_buf_puts(buf, "null");
    }
    webot_buf_puts(buf, "}");
    return send_text(wr, HTTP_OK, webot_buf_text(buf));
}

/* --- GET /jobs/{id} -------------------------------------------------------------- */

static int not_found(webot_req_t *wr)
{
    return webot_fail(wr, "NOT_FOUND", "No job %s in this account.",
                      ap_escape_logitem(wr->p, wr->id));
}

int webot_h_job_get(webot_req_t *wr)
{
    webot_job_row_t *row;
    webot_error_t *err;
    webot_db_t *db;
    webot_dbrc_e rc;

    if (!(db = db_of(wr, &err))) {
        return webot_send_error(wr, err);
    }
    rc = webot_store_job_get(db, wr->p, wr->auth->account_id, wr->id, &row);
    if (rc != WEBOT_DB_OK) {
        return db_fail(wr, rc);
    }
    if (!row) {
        return not_found(wr);
    }
    return send_text(wr, HTTP_OK, webot_job_render(wr->p, &row->job,
                                                   api_base(wr)));
}

/* --- GET /jobs/{id}/events ---------------------------------------------------------- */

int webot_h_job_events(webot_req_t *wr)
{
    apr_table_t *q = webot_query(wr);
    apr_array_header_t *events, *buf;
    webot_error_t *err;
    webot_db_t *db;
    webot_dbrc_e rc;
    const char *v, *status;
    long long after = 0;
    int found, i;

    if (q && (v = apr_table_get(q, "after"))
        && webot_parse_int(v, 0, 2147483647LL, &after)) {
        return bad_query(wr, "after", "after must be a whole number (an "
            "event seq) of 0 or more; got \"%s\".",
            ap_escape_logitem(wr->p, v));
    }
    if (!wr->capture && webot_jobs_wants_stream(wr->r)) {
        if ((v = apr_table_get(wr->r->headers_in, "Last-Event-ID"))
            && webot_parse_int(v, 0, 2147483647LL, &after)) {
            return bad_query(wr, "Last-Event-ID", "Last-Event-ID must be "
                "the id (seq) of an event; got \"%s\".",
                ap_escape_logitem(wr->p, v));
        }
        return webot_jobs_stream(wr, (int)after);
    }
    if (!(db = db_of(wr, &err))) {
        return webot_send_error(wr, err);
    }
    rc = webot_store_job_events(db, wr->p, wr->auth->account_id, wr->id,
                                (int)after, EVENTS_MAX, &found, &status,
                                &events);
    if (rc != WEBOT_DB_OK) {
        return db_fail(wr, rc);
    }
    if (!found) {
        return not_found(wr);
    }
    buf = apr_array_make(wr->p, 1024, 1);
    webot_buf_puts(buf, "{\"data\":[");
    for (i = 0; i < events->nelts; i++) {
        webot_event_row_t *e = APR_ARRAY_IDX(events, i, webot_event_row_t *);
        webot_buf_puts(buf, i ? ",{\"id\":" : "{\"id\":");
        webot_json_quote(buf, e->id);
        webot_buf_puts(buf, apr_psprintf(wr->p, ",\"seq\":%d,\"type\":",
                                         e->seq));
        webot_json_quote(buf, e->type);
        webot_buf_puts(buf, ",\"status\":");
        webot_json_quote(buf, e->status);
        webot_buf_puts(buf, ",\"message\":");
        webot_json_quote(buf, e->message);
        webot_buf_puts(buf, ",\"created_at\":");
        webot_json_quote(buf, e->created_at);
        webot_buf_puts(buf, "}");
    }
    webot_buf_puts(buf, "]}");
    return send_text(wr, HTTP_OK, webot_buf_text(buf));
}

/* --- approve / cancel / revision ------------------------------------------------------ */

static int invalid_state(webot_req_t *wr, const webot_job_row_t *row,
                         unsigned act)
{
    int st = webot_job_status_parse(row->job.status);
    unsigned allowed = webot_job_allowed_actions(st, row->job.revision_count,
                                                 row->job.max_revisions);
    webot_error_t *e;
    json_t *acts;
    const char *why = "";

    if (act == WEBOT_ACT_REVISION && st == WEBOT_JOB_READY) {
        why = apr_psprintf(wr->p, " All %d revisions of the plan are used.",
                           row->job.max_revisions);
    }
    e = webot_error_make(wr->p, "INVALID_STATE",
        "Cannot %s a job that is %s.%s Allowed now: %s.",
        webot_job_action_name(act), row->job.status, why,
        allowed ? webot_job_actions_json(allowed) : "nothing");
    acts = json_loads(webot_job_actions_json(allowed), 0, NULL);
    json_array_append_new(e->details, json_pack("{s:s,s:o}",
        "status", row->job.status, "allowed_actions",
        acts ? acts : json_array()));
    return webot_send_error(wr, e);
}

static int job_action(webot_req_t *wr, unsigned act)
{
    webot_auth_t *a = wr->auth;
    webot_job_row_t *row, *moved;
    webot_job_move_in_t mv;
    webot_idem_rec_t rec;
    webot_error_t *err;
    webot_db_t *db;
    webot_dbrc_e rc;
    const char *key, *fp = NULL, *route, *notes = NULL, *reason = NULL;
    const char *body;
    int bad, st, to, refund;
    webot_move_e move;

    key = idem_key_of(wr, &bad);
    if (bad) {
        return idem_key_error(wr, 0);
    }
    if (act == WEBOT_ACT_REVISION) {
        const char *s;
        notes = webot_json_str(wr->body, "notes");
        for (s = notes; s && *s && apr_isspace(*s); s++)
            ;
        if (!notes || !*s) {
            err = webot_error_make(wr->p, "VALIDATION_ERROR",
                                   "The revision needs notes.");
            webot_error_add_param(wr->p, err, "notes",
                                  "must say what to change (not blank)");
            return webot_send_error(wr, err);
        }
    }
    if (act == WEBOT_ACT_CANCEL) {
        reason = webot_json_str(wr->body, "reason");
    }
    route = apr_pstrcat(wr->p, "/jobs/", wr->id, "/",
                        webot_job_action_name(act), NULL);
    if (key) {
        fp = webot_idem_fingerprint_hex(wr->p, "POST", route, wr->body);
    }
    if (!(db = db_of(wr, &err))) {
        return webot_send_error(wr, err);
    }
    if ((rc = webot_db_begin(db, wr->p)) != WEBOT_DB_OK) {
        return db_fail(wr, rc);
    }
    if (key) {
        if ((rc = webot_store_idem_claim(db, wr->p, a->account_id, key,
                                         &rec)) != WEBOT_DB_OK) {
            return db_fail(wr, rc);
        }
        if (rec.found || rec.busy) {
            webot_db_rollback(db, wr->p);
            return rec.found
                ? idem_answer(wr, fp, rec.fingerprint, rec.status,
                              rec.response_status, rec.response_body)
                : in_progress(wr);
        }
    }
    if ((rc = webot_store_job_lock(db, wr->p, a->account_id, wr->id, &row))
        != WEBOT_DB_OK) {
        return db_fail(wr, rc);
    }
    if (!row) {
        webot_db_rollback(db, wr->p);
        return not_found(wr);
    }
    st = webot_job_status_parse(row->job.status);
    move = webot_job_customer_move(act, st, row->job.revision_count,
                                   row->job.max_revisions, &to);
    if (move == WEBOT_MOVE_INVALID) {
        webot_db_rollback(db, wr->p);
        return invalid_state(wr, row, act);
    }
    moved = row;
    if (move == WEBOT_MOVE_OK) {
        refund = act == WEBOT_ACT_CANCEL
            && (st == WEBOT_JOB_QUEUED || st == WEBOT_JOB_ACCEPTED)
            && !row->quota_refunded && row->quota_period_start;
        memset(&mv, 0, sizeof(mv));
        mv.account_id = a->account_id;
        mv.job_id = row->job.id;
        mv.action = act;
        mv.from_sql = webot_job_action_from_sql(act);
        mv.to_status = webot_job_status_name(to);
        mv.notes = notes;
        mv.reason = reason;
        mv.refund = refund;
        mv.quota_period_start = row->quota_period_start;
        mv.event_id = webot_id_new(wr->p, "evt_");
        mv.usage_id = webot_id_new(wr->p, "ue_");
        mv.event_type = webot_job_event_type(to, act);
        mv.event_message = webot_job_event_message(mv.event_type, refund);
        if (!mv.event_id || !mv.usage_id) {
            webot_db_rollback(db, wr->p);
            return webot_fail(wr, "INTERNAL_ERROR",
                "An internal error occurred; it has been logged.");
        }
        if ((rc = webot_store_job_move(db, wr->p, &mv, &moved))
            != WEBOT_DB_OK) {
            return db_fail(wr, rc);
        }
        if (!moved) {
            /* the row is locked, so only a bug gets here */
            webot_db_rollback(db, wr->p);
            return invalid_state(wr, row, act);
        }
    }
    body = webot_job_render(wr->p, &moved->job, api_base(wr));
    if (key && (rc = webot_store_idem_save(db, wr->p, a->account_id, key,
                                           apr_pstrcat(wr->p, "POST ",
                                                       route, NULL),
                                           fp, HTTP_OK, body, row->job.id))
               != WEBOT_DB_OK) {
        return db_fail(wr, rc);
    }
    if ((rc = webot_db_commit(db, wr->p)) != WEBOT_DB_OK) {
        return db_fail(wr, rc);
    }
    return send_text(wr, HTTP_OK, body);
}

int webot_h_job_approve(webot_req_t *wr)
{
    return job_action(wr, WEBOT_ACT_APPROVE);
}

int webot_h_job_cancel(webot_req_t *wr)
{
    return job_action(wr, WEBOT_ACT_CANCEL);
}

int webot_h_job_revision(webot_req_t *wr)
{
    return job_action(wr, WEBOT_ACT_REVISION);
}

/* --- POST /jobs/preflight -------------------------------------------------------------- */

int webot_h_job_preflight(webot_req_t *wr)
{
    webot_auth_t *a = wr->auth;
    webot_jobcheck_t *jc;
    webot_error_t *err = NULL;
    webot_db_t *db;
    webot_dbrc_e rc;
    json_t *checks, *body, *c, *problems;
    unsigned need = a->method == WEBOT_AUTHN_SESSION
                    ? WEBOT_ACCESS_DASHBOARD : WEBOT_ACCESS_API;
    int used = 0, active = 0, ent_ok, quota_ok, active_ok, intent_ok;
    int remaining;
    const char *action;

    if (!(db = db_of(wr, &err))) {
        return webot_send_error(wr, err);
    }
    if (a->period_start) {
        rc = webot_store_job_figures(db, wr->p, a->account_id,
                                     rfc_us(wr->p, a->period_start), &used,
                                     &active);
    }
    else {
        int unused;
        rc = webot_store_job_figures(db, wr->p, a->account_id,
                                     "-infinity", &unused, &active);
    }
    if (rc != WEBOT_DB_OK) {
        return db_fail(wr, rc);
    }
    checks = webot_json_own(wr->p, json_array());

    json_array_append_new(checks, json_pack("{s:s,s:b,s:s,s:s?}",
        "name", "authentication", "ok", 1,
        "method", a->method == WEBOT_AUTHN_SESSION ? "session" : "api_key",
        "key_id", a->key_id));

    ent_ok = a->ent_usable && (a->access & need) && a->plan;
    c = json_pack("{s:s,s:b,s:s,s:s?}", "name", "entitlement", "ok", ent_ok,
                  "status", a->ent_status ? a->ent_status : "none",
                  "plan", a->plan ? a->plan->id : NULL);
    if (!ent_ok) {
        json_object_set_new(c, "message", json_string(
            a->ent_why ? a->ent_why
            : a->plan && !(a->access & need)
              ? (need == WEBOT_ACCESS_API
                 ? "The plan does not include API access."
                 : "The plan does not include the dashboard.")
              : "The account has no active entitlement."));
    }
    json_array_append_new(checks, c);

    remaining = a->monthly_jobs - used;
    if (remaining < 0) {
        remaining = 0;
    }
    quota_ok = remaining > 0;
    json_array_append_new(checks, json_pack("{s:s,s:b,s:i,s:i,s:i}",
        "name", "quota", "ok", quota_ok, "limit", a->monthly_jobs,
        "used", used, "remaining", remaining));

    active_ok = active < a->max_active_jobs;
    json_array_append_new(checks, json_pack("{s:s,s:b,s:i,s:i}",
        "name", "active_jobs", "ok", active_ok, "count", active,
        "limit", a->max_active_jobs));

    if (json_is_object(wr->body)) {
        jc = webot_jobcheck(wr->p, wr->sc->catalog,
                            webot_route_request_schema(wr->route), wr->body);
        problems = jc->problems->details;
        if (!jc->nproblems && !json_array_size(jc->missing)) {
            /* the files of the draft, as POST /jobs checks them */
            err = webot_files_check_job_files(wr,
                json_object_get(wr->body, "file_ids"));
            if (err && err->status >= 500) {
                return webot_send_error(wr, err);
            }
            if (err) {
                problems = err->details;
            }
        }
        intent_ok = !jc->nproblems && !json_array_size(jc->missing) && !err;
        c = json_pack("{s:s,s:b,s:s?,s:O,s:O}", "name", "intent",
            "ok", intent_ok,
            "service_option", jc->option ? jc->option->id : NULL,
            "missing_requirements", jc->missing, "problems", problems);
    }
    else {
        intent_ok = 0;
        c = json_pack("{s:s,s:b,s:n,s:[],s:[{s:n,s:s}]}", "name", "intent",
            "ok", 0, "service_option", "missing_requirements", "problems",
            "param", "message", "the request body must be a JSON object");
    }
    json_array_append_new(checks, c);

    action = !ent_ok ? "upgrade_plan"
           : !quota_ok ? "upgrade_plan"
           : !active_ok ? "wait"
           : !intent_ok ? "revise_request" : "none";
    body = json_pack("{s:b,s:O,s:s}", "ready",
                     ent_ok && quota_ok && active_ok && intent_ok,
                     "checks", checks, "suggested_action", action);
    return webot_send_json(wr, HTTP_OK, webot_json_own(wr->p, body));
}

/* --- GET /usage ------------------------------------------------------------------------ */

int webot_h_usage(webot_req_t *wr)
{
    webot_auth_t *a = wr->auth;
    webot_usage_t u;
    webot_error_t *err;
    webot_db_t *db;
    webot_dbrc_e rc;
    apr_array_header_t *buf;
    const char *since;
    int i, remaining;

    if (!(db = db_of(wr, &err))) {
        return webot_send_error(wr, err);
    }
    since = a->period_start ? rfc_us(wr->p, a->period_start)
        : rfc_us(wr->p, apr_time_now() - apr_time_from_sec(30 * 86400));
    rc = webot_store_usage(db, wr->p, a->account_id,
                           a->period_start ? rfc_us(wr->p, a->period_start)
                                           : "-infinity",
                           since, USAGE_RECENT, &u);
    if (rc != WEBOT_DB_OK) {
        return db_fail(wr, rc);
    }
    if (!a->period_start) {
        u.used = 0;
    }
    remaining = a->monthly_jobs - u.used;
    if (remaining < 0) {
        remaining = 0;
    }
    buf = apr_array_make(wr->p, 4096, 1);
    webot_buf_puts(buf, "{\"period\":{\"start\":");
    if (a->period_start) {
        webot_json_quote(buf, webot_time_rfc3339(wr->p, a->period_start, 0));
        webot_buf_puts(buf, ",\"end\":");
        webot_json_quote(buf, webot_time_rfc3339(wr->p, a->period_end, 0));
    }
    else {
        webot_buf_puts(buf, "null,\"end\":null");
    }
    webot_buf_puts(buf, apr_psprintf(wr->p, "},\"quota\":{\"limit\":%d,"
        "\"used\":%d,\"remaining\":%d},\"active_jobs\":{\"count\":%d,"
        "\"limit\":%d},\"rejects\":{\"count\":%d,\"by_code\":",
        a->monthly_jobs, u.used, remaining, u.active, a->max_active_jobs,
        u.rejects));
    webot_json_minify(buf, u.rejects_by_code ? u.rejects_by_code : "{}");
    webot_buf_puts(buf, "},\"recent_events\":[");
    for (i = 0; i < u.recent->nelts; i++) {
        webot_usage_event_t *e = APR_ARRAY_IDX(u.recent, i,
                                               webot_usage_event_t *);
        webot_buf_puts(buf, i ? ",{\"id\":" : "{\"id\":");
        webot_json_quote(buf, e->id);
        webot_buf_puts(buf, ",\"type\":");
        webot_json_quote(buf, e->type);
        webot_buf_puts(buf, ",\"job_id\":");
        if (e->job_id) {
            webot_json_quote(buf, e->job_id);
        }
        else {
            webot_buf_puts(buf, "null");
        }
        webot_buf_puts(buf, ",\"code\":");
        if (e->code) {
            webot_json_quote(buf, e->code);
        }
        else {
            webot_buf_puts(buf, "null");
        }
        webot_buf_puts(buf, ",\"created_at\":");
        webot_json_quote(buf, e->created_at);
        webot_buf_puts(buf, "}");
    }
    webot_buf_puts(buf, "],\"daily\":[");
    for (i = 0; i < u.daily->nelts; i++) {
        webot_usage_day_t *d = APR_ARRAY_IDX(u.daily, i, webot_usage_day_t *);
        webot_buf_puts(buf, apr_psprintf(wr->p, "%s{\"date\":\"%s\","
            "\"jobs_created\":%d,\"rejects\":%d}", i ? "," : "", d->date,
            d->jobs_created, d->rejects));
    }
    webot_buf_puts(buf, "]}");
    return send_text(wr, HTTP_OK, webot_buf_text(buf));
}
