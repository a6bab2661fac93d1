/* webot_store_jobs.c: SQL of the jobs API (see webot_store_jobs.h).
 *
 * apr_dbd numbers the %s placeholders $1, $2, ... in order and declares
 * them varchar; a statement that uses a parameter more than once names
 * every parameter once, in order, in a leading `arg` CTE that is never
 * read, and then refers to them as $n (cast where a type is needed). */
#include "webot_store_jobs.h"
#include "webot_util.h"
#include "webot_store_worker.h"

#include <apr_strings.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#define RFC(x) "to_char(" x " AT TIME ZONE 'UTC', " \
               "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define RFC_US(x) "to_char(" x " AT TIME ZONE 'UTC', " \
                  "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The columns of a job row, in the order read_job reads them. */
#define JOB_COLS(t) \
    t "id, " t "status, " t "service_family, " t "service_option, " \
    t "title, " t "intake::text, array_to_json(" t "file_ids)::text, " \
    t "metadata::text, " t "revision_count, " t "max_revisions, " \
    t "deliverable::text, " RFC(t "created_at") ", " \
    RFC(t "updated_at") ", " RFC_US(t "created_at") ", " \
    t "quota_refunded, " RFC_US(t "quota_period_start") ", " t "event_seq"
#define JOB_NCOLS 17

/* The columns a list needs (read_list_job): created_at once, with
 * microseconds (the cursor's key; the display drops the fraction). */
#define LIST_COLS \
    "id, status, service_family, service_option, title, intake::text, " \
    "array_to_json(file_ids)::text, metadata::text, revision_count, " \
    "max_revisions, deliverable::text, " RFC_US("created_at") ", " \
    RFC("updated_at")
#define LIST_NCOLS 13

static int to_int(const char *v)
{
    return v ? atoi(v) : 0;
}

static int is_true(const char *v)
{
    return v && (v[0] == 't' || v[0] == '1');
}

static webot_job_row_t *read_job(apr_pool_t *p, webot_rows_t *rows, int i,
                                 int col)
{
    webot_job_row_t *r = apr_pcalloc(p, sizeof(*r));
#define C(k) WEBOT_ROW(rows, i, col + (k))
    r->job.id = C(0);
    r->job.status = C(1);
    r->job.service_family = C(2);
    r->job.service_option = C(3);
    r->job.title = C(4);
    r->job.intake_json = C(5);
    r->job.file_ids_json = C(6);
    r->job.metadata_json = C(7);
    r->job.revision_count = to_int(C(8));
    r->job.max_revisions = to_int(C(9));
    r->job.deliverable_json = C(10);
    r->job.created_at = C(11);
    r->job.updated_at = C(12);
    r->created_us = C(13);
    r->quota_refunded = is_true(C(14));
    r->quota_period_start = C(15);
    r->event_seq = to_int(C(16));
#undef C
    return r;
}

/* "2026-03-02T10:15:00.123456Z" → "2026-03-02T10:15:00Z" */
static const char *whole_seconds(apr_pool_t *p, const char *us)
{
    const char *dot = us ? strchr(us, '.') : NULL;
    return dot ? apr_pstrcat(p, apr_pstrmemdup(p, us, (apr_size_t)(dot - us)),
                             "Z", NULL)
               : us;
}

static webot_job_row_t *read_list_job(apr_pool_t *p, webot_rows_t *rows,
                                      int i)
{
    webot_job_row_t *r = apr_pcalloc(p, sizeof(*r));
#define C(k) WEBOT_ROW(rows, i, (k))
    r->job.id = C(0);
    r->job.status = C(1);
    r->job.service_family = C(2);
    r->job.service_option = C(3);
    r->job.title = C(4);
    r->job.intake_json = C(5);
    r->job.file_ids_json = C(6);
    r->job.metadata_json = C(7);
    r->job.revision_count = to_int(C(8));
    r->job.max_revisions = to_int(C(9));
    r->job.deliverable_json = C(10);
    r->created_us = C(11);
    r->job.created_at = whole_seconds(p, C(11));
    r->job.updated_at = C(12);
#undef C
    return r;
}

/* --- creation ------------------------------------------------------------ */

static void create_args(apr_pool_t *p, const webot_job_create_in_t *in,
                        const char *args[20]);

/* One statement, so one implicit transaction: nothing of a refused or
 * replayed request is written except the refusal's usage event.
 *   ex   the key's earlier record (replay / conflict)
 *   l    claims the key for this transaction (advisory lock): another
 *        request holding it is "in progress"
 *   c    the account's job counter, locked: creations of one account run
 *        one after the other from here to commit, so the active-job check
 *        and the quota guard see every committed job
 *   q    the quota guard: used + 1 only while used < limit
 *   j/e/u/i  the job, its first event, the usage event, the key's record
 *   n        the new job counted as active
 *   r/rej    the refusal code (QUOTA_EXCEEDED wins) and its usage event
 * and NOTIFY webot_jobs with the new job's id (delivered at commit). */
static const webot_stmt_t ST_CREATE = { "webot_jobs_create",
    "WITH arg AS (SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    "  %s, %s, %s, %s, %s, %s, %s),"
    /* $1 account $2 key $3 fp $4 job $5 event $6 usage $7 family
     * $8 option $9 title $10 intake $11 file_ids $12 metadata
     * $13 max_revisions $14 period_start $15 period_end $16 quota
     * $17 max_active $18 created_at $19 message $20 body */
    " ex AS (SELECT encode(fingerprint, 'hex') AS fp, status,"
    "   response_status, response_body FROM idempotency_keys"
    "   WHERE account_id = $1 AND key = $2),"
    " l AS (SELECT pg_try_advisory_xact_lock("
    "   hashtextextended($1 || ' ' || $2, 4242)) AS got"
    "   WHERE NOT EXISTS (SELECT 1 FROM ex)),"
    " c AS (SELECT active < $17::int AS ok, active FROM job_counters"
    "   WHERE account_id = $1 AND (SELECT got FROM l) FOR UPDATE),"
    /* the quota guard; over the active limit it still runs, adding 0,
     * to learn whether the quota is used up too (QUOTA_EXCEEDED wins):
     * ON CONFLICT waits for a creation in flight and reads the latest
     * row, which a snapshot read would not */
    " q AS (INSERT INTO quota_periods AS qp (account_id, period_start,"
    "   period_end, used)"
    "   SELECT $1, $14::timestamptz, $15::timestamptz,"
    "   CASE WHEN c.ok THEN 1 ELSE 0 END FROM c WHERE $16::int > 0"
    "   ON CONFLICT (account_id, period_start) DO UPDATE"
    "   SET used = qp.used + EXCLUDED.used"
    "   WHERE qp.used < $16::int RETURNING used),"
    " j AS (INSERT INTO jobs (id, account_id, status, service_family,"
    "   service_option, title, intake, file_ids, metadata, max_revisions,"
    "   quota_period_start, event_seq, created_at, updated_at)"
    "   SELECT $4, $1, 'queued', $7, $8, $9, $10::jsonb, $11::text[],"
    "   $12::jsonb, $13::int, $14::timestamptz, 1, $18::timestamptz,"
    "   $18::timestamptz FROM q WHERE (SELECT ok FROM c) RETURNING id),"
    " e AS (INSERT INTO job_events (id, job_id, account_id, seq, type,"
    "   status, message, created_at)"
    "   SELECT $5, j.id, $1, 1, 'job.queued', 'queued', $19,"
    "   $18::timestamptz FROM j),"
    " u AS (INSERT INTO usage_events (id, account_id, type, job_id,"
    "   created_at) SELECT $6, $1, 'job.created', j.id, $18::timestamptz"
    "   FROM j),"
    " i AS (INSERT INTO idempotency_keys (account_id, key, route,"
    "   fingerprint, status, response_status, response_body, job_id)"
    "   SELECT $1, $2, 'POST /jobs', decode($3, 'hex'), 'done', 201, $20,"
    "   j.id FROM j),"
    " n AS (UPDATE job_counters SET active = active + 1"
    "   WHERE account_id = $1 AND EXISTS (SELECT 1 FROM j)),"
    " r AS (SELECT CASE"
    "   WHEN (SELECT got FROM l) IS NOT TRUE THEN NULL"
    "   WHEN NOT EXISTS (SELECT 1 FROM c) THEN NULL"
    "   WHEN EXISTS (SELECT 1 FROM j) THEN NULL"
    "   WHEN NOT EXISTS (SELECT 1 FROM q) THEN 'QUOTA_EXCEEDED'"
    "   ELSE 'ACTIVE_JOB_LIMIT' END AS code),"
    " rej AS (INSERT INTO usage_events (id, account_id, type, code)"
    "   SELECT $6, $1, 'request.rejected', r.code FROM r"
    "   WHERE r.code IS NOT NULL)"
    " SELECT (SELECT fp FROM ex), (SELECT status FROM ex),"
    "  (SELECT response_status FROM ex), (SELECT response_body FROM ex),"
    "  (SELECT got FROM l), (SELECT count(*) FROM c),"
    "  (SELECT j.id FROM j CROSS JOIN LATERAL"
    "    (SELECT pg_notify('webot_jobs', j.id)) n),"
    "  (SELECT code FROM r),"
    "  coalesce((SELECT used FROM q), (SELECT used FROM quota_periods"
    "    WHERE account_id = $1 AND period_start = $14::timestamptz), 0),"
    "  (SELECT active FROM c)" };

static const webot_stmt_t ST_COUNTERS = { "webot_jobs_counters_ensure",
    "INSERT INTO job_counters (account_id, active)"
    " SELECT a.id, (SELECT count(*) FROM jobs j WHERE j.account_id = a.id"
    "   AND j.status IN ('queued','accepted','running'))"
    " FROM accounts a WHERE a.id = %s"
    " ON CONFLICT (account_id) DO NOTHING" };

webot_dbrc_e webot_store_job_counters_ensure(webot_db_t *db, apr_pool_t *p,
                                             const char *account_id)
{
    const char *args[1] = { account_id };
    return webot_db_exec(db, p, &ST_COUNTERS, NULL, 1, args);
}

webot_dbrc_e webot_store_job_create(webot_db_t *db, apr_pool_t *p,
                                    const webot_job_create_in_t *in,
                                    webot_job_create_out_t *out)
{
    const char *args[20];
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int attempt;

    create_args(p, in, args);

    memset(out, 0, sizeof(*out));
    for (attempt = 0; ; attempt++) {
        if ((rc = webot_db_select(db, p, &ST_CREATE, &rows, 20, args))
            != WEBOT_DB_OK) {
            return rc;
        }
        if (rows->n != 1 || rows->cols != 10) {
            return WEBOT_DB_ERROR;
        }
#define C(k) WEBOT_ROW(rows, 0, k)
        if (C(0)) {
            out->result = WEBOT_CREATE_REPLAY;
            out->idem_fingerprint = C(0);
            out->idem_status = C(1);
            out->idem_response_status = to_int(C(2));
            out->idem_response_body = C(3);
            return WEBOT_DB_OK;
        }
        if (!is_true(C(4))) {
            out->result = WEBOT_CREATE_IN_PROGRESS;
            return WEBOT_DB_OK;
        }
        if (to_int(C(5)) == 0) {
            /* no job_counters row yet (created with the account by the
             * migration's trigger; this covers rows made before it) */
            if (attempt > 0) {
                return WEBOT_DB_ERROR;
            }
            if ((rc = webot_store_job_counters_ensure(db, p,
                                                      in->account_id))
                != WEBOT_DB_OK) {
                return rc;
            }
            continue;
        }
        out->quota_used = to_int(C(8));
        out->active = to_int(C(9));
        if (C(6)) {
            out->result = WEBOT_CREATE_CREATED;
        }
        else if (C(7) && !strcmp(C(7), "QUOTA_EXCEEDED")) {
            out->result = WEBOT_CREATE_QUOTA;
        }
        else {
            out->result = WEBOT_CREATE_ACTIVE_LIMIT;
        }
#undef C
        return WEBOT_DB_OK;
    }
}

/* --- creation of a group ---------------------------------------------------
 * A group of creations (mod_webot_jobs.c) runs in one transaction with a
 * fixed number of statements, whatever its size:
 *   1. stage: one statement for every item: the key's earlier record, the
 *      key's claim, and for a claimed key the job, its event, its usage
 *      event and the key's record (no lock another creation waits for);
 *   2. per account (and period and limits), in account order:
 *      lock: the job counter and the quota row, locked (FOR UPDATE), read;
 *      apply: the first `a` staged items are accepted (a = what both the
 *      quota and the active-job limit still allow, in arrival order), the
 *      counter and the quota move by a, the others' staged rows are
 *      deleted and their refusals recorded;
 *   3. one commit.
 * So the account's rows are locked only from step 2 to the commit. */

static void create_args(apr_pool_t *p, const webot_job_create_in_t *in,
                        const char *args[20])
{
    args[0] = in->account_id;
    args[1] = in->idem_key;
    args[2] = in->fingerprint_hex;
    args[3] = in->job_id;
    args[4] = in->event_id;
    args[5] = in->usage_id;
    args[6] = in->service_family;
    args[7] = in->service_option;
    args[8] = in->title;
    args[9] = in->intake_json;
    args[10] = in->file_ids_sql;
    args[11] = in->metadata_json;
    args[12] = apr_itoa(p, in->max_revisions);
    args[13] = in->period_start;
    args[14] = in->period_end;
    args[15] = apr_itoa(p, in->monthly_jobs);
    args[16] = apr_itoa(p, in->max_active_jobs);
    args[17] = in->created_at;
    args[18] = in->event_message;
    args[19] = in->response_body;
}

static const webot_stmt_t ST_STAGE = { "webot_jobs_stage",
    "WITH arg AS (SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    "  %s, %s, %s, %s),"
    /* arrays, one element per item: $1 account $2 key $3 fp $4 job
     * $5 event $6 usage $7 family $8 option $9 title $10 intake
     * $11 file_ids (text[] literals) $12 metadata $13 max_revisions
     * $14 period_start $15 created_at $16 message $17 body */
    " inp AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
    "   $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
    "   $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],"
    "   $14::text[], $15::text[], $16::text[], $17::text[])"
    "   WITH ORDINALITY AS t(acct, ikey, fp, job, evt, ue, fam, opt, title,"
    "   intake, files, meta, maxrev, ps, created, msg, body, ord)),"
    " ex AS (SELECT inp.ord, encode(k.fingerprint, 'hex') AS fp, k.status,"
    "   k.response_status, k.response_body FROM inp"
    "   JOIN idempotency_keys k ON k.account_id = inp.acct"
    "   AND k.key = inp.ikey),"
    " l AS (SELECT inp.ord, pg_try_advisory_xact_lock("
    "   hashtextextended(inp.acct || ' ' || inp.ikey, 4242)) AS got"
    "   FROM inp WHERE NOT EXISTS (SELECT 1 FROM ex WHERE ex.ord = inp.ord)),"
    " ok AS MATERIALIZED (SELECT inp.* FROM inp JOIN l ON l.ord = inp.ord"
    "   WHERE l.got),"
    " j AS (INSERT INTO jobs (id, account_id, status, service_family,"
    "   service_option, title, intake, file_ids, metadata, max_revisions,"
    "   quota_period_start, event_seq, created_at, updated_at)"
    "   SELECT job, acct, 'queued', fam, opt, title, intake::jsonb,"
    "   files::text[], meta::jsonb, maxrev::int, ps::timestamptz, 1,"
    "   created::timestamptz, created::timestamptz FROM ok),"
    " e AS (INSERT INTO job_events (id, job_id, account_id, seq, type,"
    "   status, message, created_at)"
    "   SELECT evt, job, acct, 1, 'job.queued', 'queued', msg,"
    "   created::timestamptz FROM ok),"
    " u AS (INSERT INTO usage_events (id, account_id, type, job_id,"
    "   created_at) SELECT ue, acct, 'job.created', job,"
    "   created::timestamptz FROM ok),"
    " i AS (INSERT INTO idempotency_keys (account_id, key, route,"
    "   fingerprint, status, response_status, response_body, job_id)"
    "   SELECT acct, ikey, 'POST /jobs', decode(fp, 'hex'), 'done', 201,"
    "   body, job FROM ok)"
    " SELECT inp.ord, ex.fp, ex.status, ex.response_status,"
    "  ex.response_body, l.got FROM inp"
    " LEFT JOIN ex ON ex.ord = inp.ord LEFT JOIN l ON l.ord = inp.ord"
    " ORDER BY inp.ord" };

webot_dbrc_e webot_store_jobs_stage(webot_db_t *db, apr_pool_t *p,
                                    const webot_job_create_in_t *const *in,
                                    int n, webot_job_create_out_t *const *out,
                                    apr_pool_t *const *pools, int *staged)
{
    const char *args[17];
    const char **col;
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int i, k;

    col = apr_palloc(p, sizeof(*col) * (apr_size_t)n);
    for (k = 0; k < 17; k++) {
        for (i = 0; i < n; i++) {
            const webot_job_create_in_t *x = in[i];
            switch (k) {
            case 0:  col[i] = x->account_id; break;
            case 1:  col[i] = x->idem_key; break;
            case 2:  col[i] = x->fingerprint_hex; break;
            case 3:  col[i] = x->job_id; break;
            case 4:  col[i] = x->event_id; break;
            case 5:  col[i] = x->usage_id; break;
            case 6:  col[i] = x->service_family; break;
            case 7:  col[i] = x->service_option; break;
            case 8:  col[i] = x->title; break;
            case 9:  col[i] = x->intake_json; break;
            case 10: col[i] = x->file_ids_sql; break;
            case 11: col[i] = x->metadata_json; break;
            case 12: col[i] = apr_itoa(p, x->max_revisions); break;
            case 13: col[i] = x->period_start; break;
            case 14: col[i] = x->created_at; break;
            case 15: col[i] = x->event_message; break;
            default: col[i] = x->response_body; break;
            }
        }
        args[k] = webot_pg_array(p, col, n);
    }
    if ((rc = webot_db_select(db, p, &ST_STAGE, &rows, 17, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    if (rows->n != n || rows->cols != 6) {
        return WEBOT_DB_ERROR;
    }
    for (i = 0; i < n; i++) {
        int ord = to_int(WEBOT_ROW(rows, i, 0)) - 1;
        webot_job_create_out_t *o;
        if (ord < 0 || ord >= n) {
            return WEBOT_DB_ERROR;
        }
        o = out[ord];
        memset(o, 0, sizeof(*o));
        staged[ord] = 0;
        if (WEBOT_ROW(rows, i, 1)) {
            apr_pool_t *op = pools[ord];    /* outlives this statement */
            o->result = WEBOT_CREATE_REPLAY;
            o->idem_fingerprint = apr_pstrdup(op, WEBOT_ROW(rows, i, 1));
            o->idem_status = apr_pstrdup(op, WEBOT_ROW(rows, i, 2));
            o->idem_response_status = to_int(WEBOT_ROW(rows, i, 3));
            o->idem_response_body = WEBOT_ROW(rows, i, 4)
                ? apr_pstrdup(op, WEBOT_ROW(rows, i, 4)) : NULL;
        }
        else if (!is_true(WEBOT_ROW(rows, i, 5))) {
            o->result = WEBOT_CREATE_IN_PROGRESS;
        }
        else {
            staged[ord] = 1;
        }
    }
    return WEBOT_DB_OK;
}

/* The account's counter and quota row, locked in that order (as every
 * creation and refund does). A quota row that another transaction created
 * after this statement's snapshot is not seen: used is then NULL and the
 * caller asks again. */
static const webot_stmt_t ST_GROUP_LOCK = { "webot_jobs_group_lock",
    "WITH arg AS (SELECT %s, %s, %s),"
    /* $1 account $2 period_start $3 period_end */
    " c AS (SELECT active FROM job_counters WHERE account_id = $1"
    "   FOR UPDATE),"
    " ins AS (INSERT INTO quota_periods (account_id, period_start,"
    "   period_end, used) VALUES ($1, $2::timestamptz, $3::timestamptz, 0)"
    "   ON CONFLICT (account_id, period_start) DO NOTHING RETURNING used),"
    " q AS (SELECT used FROM quota_periods WHERE account_id = $1"
    "   AND period_start = $2::timestamptz FOR UPDATE)"
    " SELECT (SELECT count(*) FROM c), (SELECT active FROM c),"
    "  coalesce((SELECT used FROM ins), (SELECT used FROM q))" };

static const webot_stmt_t ST_GROUP_APPLY = { "webot_jobs_group_apply",
    "WITH arg AS (SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s),"
    /* $1 account $2 period_start $3 accepted $4 refused jobs[]
     * $5 their usage events[] $6 their keys[] $7 refusal usage ids[]
     * $8 the refusal code $9 accepted jobs[] (NOTIFY webot_jobs, sent
     * at commit) */
    " cu AS (UPDATE job_counters SET active = active + $3::int"
    "   WHERE account_id = $1 AND $3::int > 0),"
    " qu AS (UPDATE quota_periods SET used = used + $3::int"
    "   WHERE account_id = $1 AND period_start = $2::timestamptz"
    "   AND $3::int > 0),"
    " dj AS (DELETE FROM jobs WHERE account_id = $1"
    "   AND id = ANY($4::text[])),"
    " du AS (DELETE FROM usage_events WHERE account_id = $1"
    "   AND id = ANY($5::text[])),"
    " di AS (DELETE FROM idempotency_keys WHERE account_id = $1"
    "   AND key = ANY($6::text[])),"
    " rj AS (INSERT INTO usage_events (id, account_id, type, code)"
    "   SELECT x, $1, 'request.rejected', $8 FROM unnest($7::text[]) x)"
    " SELECT count(pg_notify('webot_jobs', x)) FROM unnest($9::text[]) x" };

webot_dbrc_e webot_store_jobs_guard(webot_db_t *db, apr_pool_t *p,
                                    const webot_job_create_in_t *const *in,
                                    int n, webot_job_create_out_t *const *out)
{
    const char *args[9];
    const char **rj, **ru, **rk, **ri, **acc;
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int i, attempt, active = 0, used = 0, a, nr = 0, quota_out;
    const char *code;

    args[0] = in[0]->account_id;
    args[1] = in[0]->period_start;
    args[2] = in[0]->period_end;
    for (attempt = 0; ; attempt++) {
        if ((rc = webot_db_select(db, p, &ST_GROUP_LOCK, &rows, 3, args))
            != WEBOT_DB_OK) {
            return rc;
        }
        if (rows->n != 1 || rows->cols != 3 || attempt > 2) {
            return WEBOT_DB_ERROR;
        }
        if (to_int(WEBOT_ROW(rows, 0, 0)) == 0) {
            if ((rc = webot_store_job_counters_ensure(db, p,
                                                      in[0]->account_id))
                != WEBOT_DB_OK) {
                return rc;
            }
            continue;
        }
        if (!WEBOT_ROW(rows, 0, 2)) {
            continue;                   /* a quota row newer than us */
        }
        active = to_int(WEBOT_ROW(rows, 0, 1));
        used = to_int(WEBOT_ROW(rows, 0, 2));
        break;
    }
    /* what the quota and the active-job limit still allow, in order */
    a = n;
    if (in[0]->monthly_jobs - used < a) {
        a = in[0]->monthly_jobs - used;
    }
    if (in[0]->max_active_jobs - active < a) {
        a = in[0]->max_active_jobs - active;
    }
    if (a < 0) {
        a = 0;
    }
    quota_out = used + a >= in[0]->monthly_jobs;
    code = quota_out ? "QUOTA_EXCEEDED" : "ACTIVE_JOB_LIMIT";
    rj = apr_palloc(p, sizeof(*rj) * (apr_size_t)(n + 1));
    ru = apr_palloc(p, sizeof(*ru) * (apr_size_t)(n + 1));
    rk = apr_palloc(p, sizeof(*rk) * (apr_size_t)(n + 1));
    ri = apr_palloc(p, sizeof(*ri) * (apr_size_t)(n + 1));
    acc = apr_palloc(p, sizeof(*acc) * (apr_size_t)(n + 1));
    for (i = 0; i < n; i++) {
        webot_job_create_out_t *o = out[i];
        o->quota_used = used + a;
        o->active = active + a;
        if (i < a) {
            o->result = WEBOT_CREATE_CREATED;
            acc[i] = in[i]->job_id;
            continue;
        }
        o->result = quota_out ? WEBOT_CREATE_QUOTA
                              : WEBOT_CREATE_ACTIVE_LIMIT;
        rj[nr] = in[i]->job_id;
        ru[nr] = in[i]->usage_id;
        rk[nr] = in[i]->idem_key;
        ri[nr] = in[i]->reject_id;
        nr++;
    }
    args[2] = apr_itoa(p, a);
    args[3] = webot_pg_array(p, rj, nr);
    args[4] = webot_pg_array(p, ru, nr);
    args[5] = webot_pg_array(p, rk, nr);
    args[6] = webot_pg_array(p, ri, nr);
    args[7] = code;
    args[8] = webot_pg_array(p, acc, a);
    return webot_db_select(db, p, &ST_GROUP_APPLY, &rows, 9, args);
}

/* The creation turn: one advisory lock for the transaction of a group
 * (any account, any process or host). Groups commit one after another
 * anyway (they lock the same accounts' counters through their commits);
 * waiting here, before the group is formed, lets each turn carry all the
 * creations that queued meanwhile. BEGIN, the plan setting and the lock go
 * in one round trip (a simple query with three statements).
 *
 * The turn's statements run with generic plans (SET LOCAL: this
 * transaction only): planning them anew for each group's array sizes was
 * time every other group waited for (POST /jobs about 7 % faster, p99
 * lower, docs/performance.md). Their plans are index lookups by account,
 * id and key whatever the sizes. */
webot_dbrc_e webot_store_jobs_begin_turn(webot_db_t *db, apr_pool_t *p)
{
    int nrows = 0;
    PGconn *c;
    (void)p;
    if (db->down) {
        return WEBOT_DB_DOWN;
    }
    if (apr_dbd_query(db->driver, db->handle, &nrows,
                      "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan;"
                      " SELECT pg_advisory_xact_lock("
                      "7222360355614557184)") != 0) {
        c = apr_dbd_native_handle(db->driver, db->handle);
        if (!c || PQstatus(c) != CONNECTION_OK) {
            db->down = 1;
            return WEBOT_DB_DOWN;
        }
        /* BEGIN may have run: end whatever is open */
        db->in_tx = 1;
        webot_db_rollback(db, p);
        return WEBOT_DB_ERROR;
    }
    db->in_tx = 1;
    return WEBOT_DB_OK;
}

/* --- reading -------------------------------------------------------------- */

static const webot_stmt_t ST_GET = { "webot_jobs_get",
    "SELECT " JOB_COLS("") " FROM jobs WHERE id = %s AND account_id = %s" };
/* the same, locked for a customer action */
static const webot_stmt_t ST_LOCK = { "webot_jobs_lock",
    "SELECT " JOB_COLS("") " FROM jobs WHERE id = %s AND account_id = %s"
    " FOR UPDATE" };

/* The account's job by id with statement st (ST_GET or ST_LOCK). */
static webot_dbrc_e job_one(webot_db_t *db, apr_pool_t *p,
                            const webot_stmt_t *st, const char *account_id,
                            const char *job_id, webot_job_row_t **out)
{
    const char *args[2] = { job_id, account_id };
    webot_rows_t *rows;
    webot_dbrc_e rc = webot_db_select(db, p, st, &rows, 2, args);
    *out = NULL;
    if (rc == WEBOT_DB_OK && rows->n == 1 && rows->cols == JOB_NCOLS) {
        *out = read_job(p, rows, 0, 0);
    }
    return rc;
}

webot_dbrc_e webot_store_job_get(webot_db_t *db, apr_pool_t *p,
                                 const char *account_id, const char *job_id,
                                 webot_job_row_t **out)
{
    return job_one(db, p, &ST_GET, account_id, job_id, out);
}

/* Keyset page: (created_at, id) strictly below the cursor (or below
 * created_before, or unbounded), created_at above created_after; both
 * bounds are conditions of the (account_id, created_at DESC, id DESC)
 * index, the status and option filters are applied on the way. */
static const webot_stmt_t ST_LIST = { "webot_jobs_list",
    "SELECT " LIST_COLS " FROM jobs"
    " WHERE account_id = %s"
    " AND (created_at, id) < (%s::timestamptz, %s)"
    " AND created_at > %s::timestamptz"
    " AND (%s::text[] IS NULL OR status = ANY($5::text[]))"
    " AND (%s::text IS NULL OR service_option = $6)"
    " ORDER BY created_at DESC, id DESC LIMIT %s::int" };

webot_dbrc_e webot_store_jobs_list(webot_db_t *db, apr_pool_t *p,
                                   const char *account_id,
                                   const webot_job_filter_t *f,
                                   apr_array_header_t **out, int *has_more)
{
    const char *args[7];
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int i, n;

    args[0] = account_id;
    if (f->cursor_ts) {
        args[1] = f->cursor_ts;
        args[2] = f->cursor_id;
    }
    else if (f->created_before) {
        args[1] = f->created_before;    /* created_at < before */
        args[2] = "";
    }
    else {
        args[1] = "infinity";
        args[2] = "";
    }
    args[3] = f->created_after ? f->created_after : "-infinity";
    args[4] = f->statuses_sql;
    args[5] = f->service_option;
    args[6] = apr_itoa(p, f->limit + 1);
    if ((rc = webot_db_select(db, p, &ST_LIST, &rows, 7, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    if (rows->n && rows->cols != LIST_NCOLS) {
        return WEBOT_DB_ERROR;
    }
    n = rows->n > f->limit ? f->limit : rows->n;
    *has_more = rows->n > f->limit;
    *out = apr_array_make(p, n ? n : 1, sizeof(webot_job_row_t *));
    for (i = 0; i < n; i++) {
        APR_ARRAY_PUSH(*out, webot_job_row_t *) = read_list_job(p, rows, i);
    }
    return WEBOT_DB_OK;
}

static const webot_stmt_t ST_EVENTS = { "webot_jobs_events",
    "SELECT j.status, e.id, e.seq, e.type, e.status, e.message, "
    RFC("e.created_at")
    " FROM jobs j LEFT JOIN LATERAL (SELECT * FROM job_events x"
    "   WHERE x.job_id = j.id AND x.seq > %s::int ORDER BY x.seq"
    "   LIMIT %s::int) e ON true"
    " WHERE j.id = %s AND j.account_id = %s ORDER BY e.seq" };

webot_dbrc_e webot_store_job_events(webot_db_t *db, apr_pool_t *p,
                                    const char *account_id,
                                    const char *job_id, int after, int limit,
                                    int *found, const char **job_status,
                                    apr_array_header_t **events)
{
    const char *args[4];
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int i;

    args[0] = apr_itoa(p, after);
    args[1] = apr_itoa(p, limit);
    args[2] = job_id;
    args[3] = account_id;
    *found = 0;
    *job_status = NULL;
    *events = apr_array_make(p, 8, sizeof(webot_event_row_t *));
    if ((rc = webot_db_select(db, p, &ST_EVENTS, &rows, 4, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    if (rows->n < 1 || rows->cols != 7) {
        return WEBOT_DB_OK;
    }
    *found = 1;
    *job_status = WEBOT_ROW(rows, 0, 0);
    for (i = 0; i < rows->n; i++) {
        webot_event_row_t *e;
        if (!WEBOT_ROW(rows, i, 1)) {
            continue;                   /* the job has no newer event */
        }
        e = apr_pcalloc(p, sizeof(*e));
        e->id = WEBOT_ROW(rows, i, 1);
        e->seq = to_int(WEBOT_ROW(rows, i, 2));
        e->type = WEBOT_ROW(rows, i, 3);
        e->status = WEBOT_ROW(rows, i, 4);
        e->message = WEBOT_ROW(rows, i, 5);
        e->created_at = WEBOT_ROW(rows, i, 6);
        APR_ARRAY_PUSH(*events, webot_event_row_t *) = e;
    }
    return WEBOT_DB_OK;
}

/* --- customer actions ------------------------------------------------------ */

webot_dbrc_e webot_store_job_lock(webot_db_t *db, apr_pool_t *p,
                                  const char *account_id, const char *job_id,
                                  webot_job_row_t **out)
{
    return job_one(db, p, &ST_LOCK, account_id, job_id, out);
}

/* The guarded move. A revision also re-arms the job for the worker
 * (attempts, next_attempt_at, no lease) and wakes it; a cancel marks
 * cancel_requested so that a worker holding the job lets go. */
static const webot_stmt_t ST_MOVE = { "webot_jobs_move",
    "WITH arg AS (SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    "  %s),"
    /* $1 job $2 account $3 action $4 from[] $5 to $6 notes $7 reason
     * $8 refund $9 period $10 event $11 type $12 message $13 usage */
    " m AS (UPDATE jobs SET status = $5, event_seq = event_seq + 1,"
    "   updated_at = clock_timestamp(),"
    "   revision_count = revision_count"
    "     + CASE WHEN $3 = 'revision' THEN 1 ELSE 0 END,"
    "   revision_notes = CASE WHEN $3 = 'revision' THEN $6"
    "     ELSE revision_notes END,"
    "   cancel_requested = cancel_requested OR $3 = 'cancel',"
    "   cancel_reason = CASE WHEN $3 = 'cancel' THEN $7"
    "     ELSE cancel_reason END,"
    "   attempts = CASE WHEN $3 = 'revision' THEN 0 ELSE attempts END,"
    "   next_attempt_at = CASE WHEN $3 = 'revision' THEN now()"
    "     ELSE next_attempt_at END,"
    "   lease_owner = CASE WHEN $3 = 'revision' THEN NULL"
    "     ELSE lease_owner END,"
    "   lease_until = CASE WHEN $3 = 'revision' THEN NULL"
    "     ELSE lease_until END,"
    "   quota_refunded = quota_refunded OR $8::boolean"
    "  WHERE id = $1 AND account_id = $2 AND status = ANY($4::text[])"
    "   AND ($3 <> 'revision' OR revision_count < max_revisions)"
    "  RETURNING " JOB_COLS("") "),"
    " ev AS (INSERT INTO job_events (id, job_id, account_id, seq, type,"
    "   status, message)"
    "   SELECT $10, m.id, $2, m.event_seq, $11, $5, $12 FROM m),"
    " rf AS (UPDATE quota_periods SET used = used - 1"
    "   WHERE account_id = $2 AND period_start = $9::timestamptz"
    "   AND used > 0 AND $8::boolean AND EXISTS (SELECT 1 FROM m)"
    "   RETURNING 1),"
    " ue AS (INSERT INTO usage_events (id, account_id, type, job_id)"
    "   SELECT $13, $2, 'job.refunded', m.id FROM m WHERE $8::boolean)"
    " SELECT m.*, pg_notify('webot_job_events', m.id),"
    "  CASE WHEN $3 = 'revision' THEN pg_notify('webot_jobs', m.id) END"
    " FROM m" };

webot_dbrc_e webot_store_job_move(webot_db_t *db, apr_pool_t *p,
                                  const webot_job_move_in_t *in,
                                  webot_job_row_t **out)
{
    const char *args[13];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    args[0] = in->job_id;
    args[1] = in->account_id;
    args[2] = webot_job_action_name(in->action);
    args[3] = in->from_sql;
    args[4] = in->to_status;
    args[5] = in->notes;
    args[6] = in->reason;
    args[7] = in->refund ? "true" : "false";
    args[8] = in->quota_period_start;
    args[9] = in->event_id;
    args[10] = in->event_type;
    args[11] = in->event_message;
    args[12] = in->usage_id;
    *out = NULL;
    if ((rc = webot_db_select(db, p, &ST_MOVE, &rows, 13, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    if (rows->n == 1 && rows->cols >= JOB_NCOLS) {
        *out = read_job(p, rows, 0, 0);
    }
    return WEBOT_DB_OK;
}

/* --- idempotency records of job actions ------------------------------------ */

static const webot_stmt_t ST_IDEM_CLAIM = { "webot_jobs_idem_claim",
    "WITH arg AS (SELECT %s, %s),"
    " ex AS (SELECT encode(fingerprint, 'hex') AS fp, status,"
    "   response_status, response_body FROM idempotency_keys"
    "   WHERE account_id = $1 AND key = $2)"
    " SELECT (SELECT fp FROM ex), (SELECT status FROM ex),"
    "  (SELECT response_status FROM ex), (SELECT response_body FROM ex),"
    "  (SELECT pg_try_advisory_xact_lock(hashtextextended($1 || ' ' || $2,"
    "    4242)) WHERE NOT EXISTS (SELECT 1 FROM ex))" };

static const webot_stmt_t ST_IDEM_GET = { "webot_jobs_idem_get",
    "SELECT encode(fingerprint, 'hex'), status, response_status,"
    " response_body, true FROM idempotency_keys"
    " WHERE account_id = %s AND key = %s" };

static webot_dbrc_e idem_read(webot_db_t *db, apr_pool_t *p,
                              const webot_stmt_t *st, const char *account_id,
                              const char *key, webot_idem_rec_t *out)
{
    const char *args[2] = { account_id, key };
    webot_rows_t *rows;
    webot_dbrc_e rc;

    memset(out, 0, sizeof(*out));
    if ((rc = webot_db_select(db, p, st, &rows, 2, args)) != WEBOT_DB_OK) {
        return rc;
    }
    if (rows->n != 1 || rows->cols != 5) {
        return WEBOT_DB_OK;
    }
    if (WEBOT_ROW(rows, 0, 0)) {
        out->found = 1;
        out->fingerprint = WEBOT_ROW(rows, 0, 0);
        out->status = WEBOT_ROW(rows, 0, 1);
        out->response_status = to_int(WEBOT_ROW(rows, 0, 2));
        out->response_body = WEBOT_ROW(rows, 0, 3);
    }
    else {
        out->busy = !is_true(WEBOT_ROW(rows, 0, 4));
    }
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_store_idem_claim(webot_db_t *db, apr_pool_t *p,
                                    const char *account_id, const char *key,
                                    webot_idem_rec_t *out)
{
    return idem_read(db, p, &ST_IDEM_CLAIM, account_id, key, out);
}

webot_dbrc_e webot_store_idem_get(webot_db_t *db, apr_pool_t *p,
                                  const char *account_id, const char *key,
                                  webot_idem_rec_t *out)
{
    return idem_read(db, p, &ST_IDEM_GET, account_id, key, out);
}

static const webot_stmt_t ST_IDEM_SAVE = { "webot_jobs_idem_save",
    "INSERT INTO idempotency_keys (account_id, key, route, fingerprint,"
    " status, response_status, response_body, job_id)"
    " VALUES (%s, %s, %s, decode(%s, 'hex'), 'done', %s::int, %s, %s)" };

webot_dbrc_e webot_store_idem_save(webot_db_t *db, apr_pool_t *p,
                                   const char *account_id, const char *key,
                                   const char *route, const char *fp_hex,
                                   int status, const char *body,
                                   const char *job_id)
{
    const char *args[7];
    args[0] = account_id;
    args[1] = key;
    args[2] = route;
    args[3] = fp_hex;
    args[4] = apr_itoa(p, status);
    args[5] = body;
    args[6] = job_id;
    return webot_db_exec(db, p, &ST_IDEM_SAVE, NULL, 7, args);
}

/* --- account figures ---------------------------------------------------------- */

static const webot_stmt_t ST_FIGURES = { "webot_jobs_figures",
    "SELECT coalesce((SELECT used FROM quota_periods WHERE account_id = %s"
    "   AND period_start = %s::timestamptz), 0),"
    " coalesce((SELECT active FROM job_counters WHERE account_id = %s), 0)" };

webot_dbrc_e webot_store_job_figures(webot_db_t *db, apr_pool_t *p,
                                     const char *account_id,
                                     const char *period_start, int *used,
                                     int *active)
{
    const char *args[3] = { account_id, period_start, account_id };
    webot_rows_t *rows;
    webot_dbrc_e rc = webot_db_select(db, p, &ST_FIGURES, &rows, 3, args);
    *used = *active = 0;
    if (rc == WEBOT_DB_OK && rows->n == 1 && rows->cols == 2) {
        *used = to_int(WEBOT_ROW(rows, 0, 0));
        *active = to_int(WEBOT_ROW(rows, 0, 1));
    }
    return rc;
}

/* used, active, rejects since $since and their count by code */
static const webot_stmt_t ST_USAGE = { "webot_jobs_usage",
    "WITH arg AS (SELECT %s, %s, %s),"
    " rj AS (SELECT coalesce(code, 'UNKNOWN') AS code, count(*) AS n"
    "   FROM usage_events WHERE account_id = $1"
    "   AND type = 'request.rejected' AND created_at >= $3::timestamptz"
    "   GROUP BY 1)"
    " SELECT coalesce((SELECT used FROM quota_periods WHERE account_id = $1"
    "   AND period_start = $2::timestamptz), 0),"
    " coalesce((SELECT active FROM job_counters WHERE account_id = $1), 0),"
    " coalesce((SELECT sum(n) FROM rj), 0),"
    " coalesce((SELECT json_object_agg(code, n ORDER BY code) FROM rj),"
    "   '{}')::text" };

static const webot_stmt_t ST_USAGE_RECENT = { "webot_jobs_usage_recent",
    "SELECT id, type, job_id, code, " RFC("created_at")
    " FROM usage_events WHERE account_id = %s"
    " ORDER BY created_at DESC, id DESC LIMIT %s::int" };

static const webot_stmt_t ST_USAGE_DAILY = { "webot_jobs_usage_daily",
    "WITH arg AS (SELECT %s),"
    " d AS (SELECT generate_series((now() AT TIME ZONE 'UTC')::date - 29,"
    "   (now() AT TIME ZONE 'UTC')::date, interval '1 day')::date AS day),"
    " ev AS (SELECT (created_at AT TIME ZONE 'UTC')::date AS day,"
    "   count(*) FILTER (WHERE type = 'job.created') AS created,"
    "   count(*) FILTER (WHERE type = 'request.rejected') AS rejected"
    "   FROM usage_events WHERE account_id = $1"
    "   AND created_at >= ((now() AT TIME ZONE 'UTC')::date - 29)"
    "     AT TIME ZONE 'UTC'"
    "   GROUP BY 1)"
    " SELECT to_char(d.day, 'YYYY-MM-DD'), coalesce(ev.created, 0),"
    " coalesce(ev.rejected, 0) FROM d LEFT JOIN ev ON ev.day = d.day"
    " ORDER BY d.day" };

webot_dbrc_e webot_store_usage(webot_db_t *db, apr_pool_t *p,
                               const char *account_id,
                               const char *period_start, const char *since,
                               int recent, webot_usage_t *out)
{
    const char *args[3];
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int i;

    memset(out, 0, sizeof(*out));
    args[0] = account_id;
    args[1] = period_start;
    args[2] = since;
    if ((rc = webot_db_select(db, p, &ST_USAGE, &rows, 3, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    if (rows->n != 1 || rows->cols != 4) {
        return WEBOT_DB_ERROR;
    }
    out->used = to_int(WEBOT_ROW(rows, 0, 0));
    out->active = to_int(WEBOT_ROW(rows, 0, 1));
    out->rejects = to_int(WEBOT_ROW(rows, 0, 2));
    out->rejects_by_code = WEBOT_ROW(rows, 0, 3);

    args[1] = apr_itoa(p, recent);
    if ((rc = webot_db_select(db, p, &ST_USAGE_RECENT, &rows, 2, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    out->recent = apr_array_make(p, rows->n ? rows->n : 1,
                                 sizeof(webot_usage_event_t *));
    for (i = 0; i < rows->n && rows->cols == 5; i++) {
        webot_usage_event_t *e = apr_pcalloc(p, sizeof(*e));
        e->id = WEBOT_ROW(rows, i, 0);
        e->type = WEBOT_ROW(rows, i, 1);
        e->job_id = WEBOT_ROW(rows, i, 2);
        e->code = WEBOT_ROW(rows, i, 3);
        e->created_at = WEBOT_ROW(rows, i, 4);
        APR_ARRAY_PUSH(out->recent, webot_usage_event_t *) = e;
    }

    if ((rc = webot_db_select(db, p, &ST_USAGE_DAILY, &rows, 1, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    out->daily = apr_array_make(p, 30, sizeof(webot_usage_day_t *));
    for (i = 0; i < rows->n && rows->cols == 3; i++) {
        webot_usage_day_t *d = apr_pcalloc(p, sizeof(*d));
        d->date = WEBOT_ROW(rows, i, 0);
        d->jobs_created = to_int(WEBOT_ROW(rows, i, 1));
        d->rejects = to_int(WEBOT_ROW(rows, i, 2));
        APR_ARRAY_PUSH(out->daily, webot_usage_day_t *) = d;
    }
    return WEBOT_DB_OK;
}
