/* webot_store_worker.c: SQL of the job worker (see webot_store_worker.h). */
#include "webot_store_worker.h"
#include "webot_util.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

static const char *array_of(apr_pool_t *p, apr_array_header_t *ids)
{
    return webot_pg_array(p, (const char *const *)ids->elts, ids->nelts);
}

static int is_true(const char *v)
{
    return v && (v[0] == 't' || v[0] == '1');
}

static long long to_ll(const char *v)
{
    return v ? strtoll(v, NULL, 10) : 0;
}

/* --- claim ---------------------------------------------------------------- */

static const webot_stmt_t ST_CLAIM = { "webot_worker_claim",
    "UPDATE jobs j SET lease_owner = %s,"
    " lease_until = now() + make_interval(secs => %s::int),"
    " attempts = CASE WHEN j.status = 'queued' THEN 1"
    "                 ELSE j.attempts + 1 END"
    " FROM (SELECT id FROM jobs"
    "       WHERE status IN ('queued','accepted','running')"
    "         AND next_attempt_at <= now()"
    "         AND (lease_until IS NULL OR lease_until < now())"
    "       ORDER BY created_at LIMIT %s::int"
    "       FOR UPDATE SKIP LOCKED) c"
    " WHERE j.id = c.id"
    " RETURNING j.id, j.account_id, j.status, j.service_family,"
    " j.service_option, j.title, j.intake::text, j.metadata::text,"
    " j.file_ids::text, j.revision_count, j.revision_notes, j.attempts,"
    " j.cancel_requested,"
    " to_char(j.created_at AT TIME ZONE 'UTC',"
    "         'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " j.quota_period_start IS NOT NULL AND NOT j.quota_refunded" };

webot_dbrc_e webot_store_worker_claim(webot_db_t *db, apr_pool_t *p,
                                      const char *owner, int lease_secs,
                                      int limit, apr_array_header_t **jobs)
{
    const char *args[3];
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int i;

    args[0] = owner;
    args[1] = apr_itoa(p, lease_secs);
    args[2] = apr_itoa(p, limit);
    if ((rc = webot_db_select(db, p, &ST_CLAIM, &rows, 3, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    *jobs = apr_array_make(p, rows->n ? rows->n : 1, sizeof(webot_wjob_t *));
    for (i = 0; i < rows->n; i++) {
        webot_wjob_t *j = apr_pcalloc(p, sizeof(*j));
        j->id = WEBOT_ROW(rows, i, 0);
        j->account_id = WEBOT_ROW(rows, i, 1);
        j->status = WEBOT_ROW(rows, i, 2);
        j->family = WEBOT_ROW(rows, i, 3);
        j->option = WEBOT_ROW(rows, i, 4);
        j->title = WEBOT_ROW(rows, i, 5);
        j->intake = WEBOT_ROW(rows, i, 6);
        j->metadata = WEBOT_ROW(rows, i, 7);
        j->file_ids = webot_pg_array_parse(p, WEBOT_ROW(rows, i, 8));
        if (!j->file_ids) {
            j->file_ids = apr_array_make(p, 1, sizeof(const char *));
        }
        j->revision_count = (int)to_ll(WEBOT_ROW(rows, i, 9));
        j->revision_notes = WEBOT_ROW(rows, i, 10);
        j->attempts = (int)to_ll(WEBOT_ROW(rows, i, 11));
        j->cancel_requested = is_true(WEBOT_ROW(rows, i, 12));
        j->created_at = WEBOT_ROW(rows, i, 13);
        j->refundable = is_true(WEBOT_ROW(rows, i, 14));
        APR_ARRAY_PUSH(*jobs, webot_wjob_t *) = j;
    }
    return WEBOT_DB_OK;
}

/* --- entitlements ------------------------------------------------------- */

static const webot_stmt_t ST_ENTS = { "webot_worker_ents",
    "SELECT account_id, plan_id, status, source,"
    " (extract(epoch FROM expires_at) * 1000000)::bigint,"
    " (extract(epoch FROM past_due_since) * 1000000)::bigint,"
    " (extract(epoch FROM now()) * 1000000)::bigint,"
    " coalesce(monthly_jobs, -1), coalesce(max_active_jobs, -1),"
    " coalesce(rate_limit_per_minute, -1),"
    " (extract(epoch FROM period_end) * 1000000)::bigint,"
    " (extract(epoch FROM updated_at) * 1000000)::bigint"
    " FROM entitlements WHERE account_id = ANY(%s::text[])" };

webot_dbrc_e webot_store_worker_entitlements(webot_db_t *db, apr_pool_t *p,
                                             apr_array_header_t *account_ids,
                                             apr_hash_t **out)
{
    const char *args[1];
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int i;

    *out = apr_hash_make(p);
    if (!account_ids->nelts) {
        return WEBOT_DB_OK;
    }
    args[0] = array_of(p, account_ids);
    if ((rc = webot_db_select(db, p, &ST_ENTS, &rows, 1, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    for (i = 0; i < rows->n; i++) {
        webot_ent_t *e = apr_pcalloc(p, sizeof(*e));
        e->present = 1;
        e->plan_id = WEBOT_ROW(rows, i, 1);
        e->status = WEBOT_ROW(rows, i, 2);
        e->source = WEBOT_ROW(rows, i, 3);
        e->expires_at = (apr_time_t)to_ll(WEBOT_ROW(rows, i, 4));
        e->past_due_since = (apr_time_t)to_ll(WEBOT_ROW(rows, i, 5));
        e->now = (apr_time_t)to_ll(WEBOT_ROW(rows, i, 6));
        e->ovr_monthly_jobs = (int)to_ll(WEBOT_ROW(rows, i, 7));
        e->ovr_max_active_jobs = (int)to_ll(WEBOT_ROW(rows, i, 8));
        e->ovr_rate_limit = (int)to_ll(WEBOT_ROW(rows, i, 9));
        /* what the gate judges too: a Stripe period without renewal, and
         * the grace of a past_due without a failure date */
        if (e->source && !strcmp(e->source, "stripe")) {
            e->period_end = (apr_time_t)to_ll(WEBOT_ROW(rows, i, 10));
        }
        e->updated_at = (apr_time_t)to_ll(WEBOT_ROW(rows, i, 11));
        apr_hash_set(*out, WEBOT_ROW(rows, i, 0), APR_HASH_KEY_STRING, e);
    }
    return WEBOT_DB_OK;
}

/* --- moves ---------------------------------------------------------------- */

static const webot_stmt_t ST_MOVE = { "webot_worker_move",
    "WITH inp AS ("
    "  SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],"
    "                       %s::text[], %s::boolean[], %s::int[])"
    "    AS i(id, from_status, to_status, deliverable, last_error, release,"
    "         nev)),"
    " j AS ("
    "  UPDATE jobs SET status = inp.to_status,"
    "   event_seq = jobs.event_seq + inp.nev,"
    "   deliverable = CASE WHEN inp.to_status = 'canceled' THEN NULL"
    "                 WHEN inp.to_status = 'needs_review'"
    "                 THEN jobs.deliverable"
    "                 ELSE coalesce(inp.deliverable::jsonb, jobs.deliverable)"
    "                 END,"
    "   review_deliverable = CASE WHEN inp.to_status = 'needs_review'"
    "                 THEN inp.deliverable::jsonb"
    "                 ELSE jobs.review_deliverable END,"
    "   last_error = coalesce(inp.last_error, jobs.last_error),"
    "   lease_owner = CASE WHEN inp.release THEN NULL"
    "                 ELSE jobs.lease_owner END,"
    "   lease_until = CASE WHEN inp.release THEN NULL"
    "                 ELSE jobs.lease_until END,"
    "   updated_at = clock_timestamp()"
    "  FROM inp"
    "  WHERE jobs.id = inp.id AND jobs.lease_owner = %s"
    "    AND jobs.status = inp.from_status"
    "    AND (NOT jobs.cancel_requested OR inp.to_status = 'canceled')"
    "  RETURNING jobs.id, jobs.account_id, jobs.event_seq - inp.nev AS base),"
    " ev AS ("
    "  SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],"
    "                       %s::text[], %s::int[])"
    "    AS e(job_id, id, type, status, message, ord)),"
    " ins AS ("
    "  INSERT INTO job_events (id, job_id, account_id, seq, type, status,"
    "                          message)"
    "  SELECT ev.id, j.id, j.account_id, j.base + ev.ord, ev.type, ev.status,"
    "         ev.message"
    "  FROM j JOIN ev ON ev.job_id = j.id"
    "  RETURNING job_id)"
    " SELECT j.id, pg_notify('webot_job_events', j.id) FROM j" };

webot_dbrc_e webot_store_worker_move(webot_db_t *db, apr_pool_t *p,
                                     const char *owner,
                                     apr_array_header_t *moves)
{
    int n = moves->nelts, nev = 0, i, k, e = 0;
    const char **id, **from, **to, **deliv, **err, **rel, **cnt;
    const char **ej, **eid, **etype, **estat, **emsg, **eord;
    const char *args[14];
    webot_rows_t *rows;
    webot_dbrc_e rc;
    apr_hash_t *done;

    if (!n) {
        return WEBOT_DB_OK;
    }
    for (i = 0; i < n; i++) {
        nev += APR_ARRAY_IDX(moves, i, webot_wmove_t *)->nevents;
    }
    id = apr_palloc(p, sizeof(char *) * (apr_size_t)n * 7);
    from = id + n, to = from + n, deliv = to + n, err = deliv + n;
    rel = err + n, cnt = rel + n;
    ej = apr_palloc(p, sizeof(char *) * (apr_size_t)(nev ? nev : 1) * 6);
    eid = ej + nev, etype = eid + nev, estat = etype + nev;
    emsg = estat + nev, eord = emsg + nev;
    for (i = 0; i < n; i++) {
        webot_wmove_t *m = APR_ARRAY_IDX(moves, i, webot_wmove_t *);
        m->applied = 0;
        id[i] = m->job_id;
        from[i] = m->from;
        to[i] = m->to;
        deliv[i] = m->deliverable;
        err[i] = m->last_error;
        rel[i] = m->release ? "t" : "f";
        cnt[i] = apr_itoa(p, m->nevents);
        for (k = 0; k < m->nevents; k++, e++) {
            ej[e] = m->job_id;
            if (!(eid[e] = webot_id_new(p, "evt_"))) {
                return WEBOT_DB_ERROR;
            }
            etype[e] = m->ev[k].type;
            estat[e] = m->ev[k].status;
            emsg[e] = m->ev[k].message;
            eord[e] = apr_itoa(p, k + 1);
        }
    }
    args[0] = webot_pg_array(p, id, n);
    args[1] = webot_pg_array(p, from, n);
    args[2] = webot_pg_array(p, to, n);
    args[3] = webot_pg_array(p, deliv, n);
    args[4] = webot_pg_array(p, err, n);
    args[5] = webot_pg_array(p, rel, n);
    args[6] = webot_pg_array(p, cnt, n);
    args[7] = owner;
    args[8] = webot_pg_array(p, ej, nev);
    args[9] = webot_pg_array(p, eid, nev);
    args[10] = webot_pg_array(p, etype, nev);
    args[11] = webot_pg_array(p, estat, nev);
    args[12] = webot_pg_array(p, emsg, nev);
    args[13] = webot_pg_array(p, eord, nev);
    if ((rc = webot_db_select(db, p, &ST_MOVE, &rows, 14, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    done = apr_hash_make(p);
    for (i = 0; i < rows->n; i++) {
        apr_hash_set(done, WEBOT_ROW(rows, i, 0), APR_HASH_KEY_STRING, "");
    }
    for (i = 0; i < n; i++) {
        webot_wmove_t *m = APR_ARRAY_IDX(moves, i, webot_wmove_t *);
        m->applied = apr_hash_get(done, m->job_id, APR_HASH_KEY_STRING)
                     != NULL;
    }
    return WEBOT_DB_OK;
}

/* Marks the job refunded and gives its quota unit back, once. */
static const webot_stmt_t ST_REFUND = { "webot_worker_refund",
    "WITH j AS (UPDATE jobs SET quota_refunded = true"
    "   WHERE id = %s AND NOT quota_refunded"
    "   AND quota_period_start IS NOT NULL"
    "   RETURNING account_id, quota_period_start),"
    " q AS (UPDATE quota_periods p SET used = p.used - 1 FROM j"
    "   WHERE p.account_id = j.account_id"
    "   AND p.period_start = j.quota_period_start AND p.used > 0"
    "   RETURNING 1),"
    " u AS (INSERT INTO usage_events (id, account_id, type, job_id)"
    "   SELECT %s, j.account_id, 'job.refunded', %s FROM j"
    "   RETURNING 1)"
    " SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM q),"
    "        (SELECT count(*) FROM u)" };

webot_dbrc_e webot_store_worker_reject(webot_db_t *db, apr_pool_t *p,
                                       const char *owner, webot_wmove_t *m,
                                       int *refunded)
{
    apr_array_header_t *one = apr_array_make(p, 1, sizeof(webot_wmove_t *));
    const char *args[3];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    int own = !db->in_tx;           /* else part of the caller's */

    *refunded = 0;
    APR_ARRAY_PUSH(one, webot_wmove_t *) = m;
    if (own && (rc = webot_db_begin(db, p)) != WEBOT_DB_OK) {
        return rc;
    }
    if ((rc = webot_store_worker_move(db, p, owner, one)) != WEBOT_DB_OK) {
        if (own) {
            webot_db_rollback(db, p);
        }
        return rc;
    }
    if (m->applied) {
        args[0] = m->job_id;
        args[1] = webot_id_new(p, "ue_");
        args[2] = m->job_id;
        if (!args[1]) {
            if (own) {
                webot_db_rollback(db, p);
            }
            return WEBOT_DB_ERROR;
        }
        if ((rc = webot_db_select(db, p, &ST_REFUND, &rows, 3, args))
            != WEBOT_DB_OK) {
            if (own) {
                webot_db_rollback(db, p);
            }
            return rc;
        }
        *refunded = rows->n && to_ll(WEBOT_ROW(rows, 0, 0)) > 0;
    }
    return own ? webot_db_commit(db, p) : WEBOT_DB_OK;
}

static const webot_stmt_t ST_RETRY = { "webot_worker_retry",
    "UPDATE jobs SET lease_owner = NULL, lease_until = NULL,"
    " next_attempt_at = clock_timestamp()"
    "   + make_interval(secs => %s::double precision / 1000),"
    " last_error = %s"
    " WHERE id = %s AND lease_owner = %s AND status = 'running'" };

webot_dbrc_e webot_store_worker_retry(webot_db_t *db, apr_pool_t *p,
                                      const char *owner, const char *job_id,
                                      long delay_ms, const char *last_error,
                                      int *applied)
{
    const char *args[4];
    args[0] = apr_ltoa(p, delay_ms);
    args[1] = last_error;
    args[2] = job_id;
    args[3] = owner;
    return webot_db_exec(db, p, &ST_RETRY, applied, 4, args);
}

/* --- leases --------------------------------------------------------------- */

static const webot_stmt_t ST_RENEW = { "webot_worker_renew",
    "UPDATE jobs SET lease_until = now() + make_interval(secs => %s::int)"
    " WHERE id = ANY(%s::text[]) AND lease_owner = %s"
    " RETURNING id, status, cancel_requested" };

webot_dbrc_e webot_store_worker_renew(webot_db_t *db, apr_pool_t *p,
                                      const char *owner,
                                      apr_array_header_t *ids,
                                      int lease_secs, apr_hash_t **alive)
{
    const char *args[3];
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int i;

    *alive = apr_hash_make(p);
    if (!ids->nelts) {
        return WEBOT_DB_OK;
    }
    args[0] = apr_itoa(p, lease_secs);
    args[1] = array_of(p, ids);
    args[2] = owner;
    if ((rc = webot_db_select(db, p, &ST_RENEW, &rows, 3, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    for (i = 0; i < rows->n; i++) {
        webot_wlease_t *l = apr_pcalloc(p, sizeof(*l));
        l->status = WEBOT_ROW(rows, i, 1);
        l->cancel_requested = is_true(WEBOT_ROW(rows, i, 2));
        apr_hash_set(*alive, WEBOT_ROW(rows, i, 0), APR_HASH_KEY_STRING, l);
    }
    return WEBOT_DB_OK;
}

static const webot_stmt_t ST_RELEASE = { "webot_worker_release",
    "UPDATE jobs SET lease_owner = NULL, lease_until = NULL,"
    " attempts = greatest(attempts - 1, 0)"
    " WHERE id = ANY(%s::text[]) AND lease_owner = %s" };

webot_dbrc_e webot_store_worker_release(webot_db_t *db, apr_pool_t *p,
                                        const char *owner,
                                        apr_array_header_t *ids,
                                        int *released)
{
    const char *args[2];
    int n = 0;
    webot_dbrc_e rc;

    if (released) {
        *released = 0;
    }
    if (!ids->nelts) {
        return WEBOT_DB_OK;
    }
    args[0] = array_of(p, ids);
    args[1] = owner;
    rc = webot_db_exec(db, p, &ST_RELEASE, &n, 2, args);
    if (released) {
        *released = n;
    }
    return rc;
}

/* --- heartbeat, health, housekeeping --------------------------------------- */

static const webot_stmt_t ST_BEAT = { "webot_worker_beat",
    "INSERT INTO worker_heartbeats (worker_id, host, pid, beat_at, claimed,"
    " done, failed, running, retries, started_at, lease_owner)"
    " VALUES (%s, %s, %s::int, now(), %s::bigint, %s::bigint, %s::bigint,"
    "         %s::int, %s::bigint, now(), %s)"
    " ON CONFLICT (worker_id) DO UPDATE SET host = EXCLUDED.host,"
    " pid = EXCLUDED.pid, beat_at = now(), claimed = EXCLUDED.claimed,"
    " done = EXCLUDED.done, failed = EXCLUDED.failed,"
    " running = EXCLUDED.running, retries = EXCLUDED.retries,"
    " started_at = CASE WHEN %s::boolean THEN now()"
    "              ELSE worker_heartbeats.started_at END,"
    " lease_owner = EXCLUDED.lease_owner" };

webot_dbrc_e webot_store_worker_beat(webot_db_t *db, apr_pool_t *p,
                                     const char *worker_id, const char *host,
                                     int pid, const char *owner,
                                     int starting,
                                     const webot_wstats_t *st)
{
    const char *args[11];
    args[0] = worker_id;
    args[1] = host;
    args[2] = apr_itoa(p, pid);
    args[3] = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)st->claimed);
    args[4] = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)st->done);
    args[5] = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)st->failed);
    args[6] = apr_itoa(p, st->running);
    args[7] = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)st->retries);
    args[8] = owner;
    args[9] = starting ? "t" : "f";
    return webot_db_exec(db, p, &ST_BEAT, NULL, 10, args);
}

static const webot_stmt_t ST_STATE = { "webot_worker_state",
    "SELECT beat_at > now() - make_interval(secs => %s::int)"
    " FROM worker_heartbeats WHERE worker_id = %s" };

webot_dbrc_e webot_store_worker_state(webot_db_t *db, apr_pool_t *p,
                                      const char *worker_id, int stale_secs,
                                      const char **state)
{
    const char *args[2];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    args[0] = apr_itoa(p, stale_secs);
    args[1] = worker_id;
    if ((rc = webot_db_select(db, p, &ST_STATE, &rows, 2, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    *state = rows->n && is_true(WEBOT_ROW(rows, 0, 0)) ? "ok" : "stale";
    return WEBOT_DB_OK;
}

static const webot_stmt_t ST_HOUSEKEEP = { "webot_worker_housekeep",
    "WITH i AS (DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY("
    "    SELECT ctid FROM idempotency_keys WHERE expires_at < now()"
    "    LIMIT %s::int)) RETURNING 1),"
    " s AS (UPDATE sessions SET ended_at = now() WHERE id IN ("
    "    SELECT id FROM sessions WHERE ended_at IS NULL"
    "    AND (expires_at < now() OR idle_expires_at < now())"
    "    LIMIT %s::int) RETURNING 1),"
    " l AS (DELETE FROM login_failures WHERE id IN ("
    "    SELECT id FROM login_failures"
    "    WHERE created_at < now() - interval '1 day' LIMIT %s::int)"
    "    RETURNING 1),"
    " h AS (DELETE FROM worker_heartbeats"
    "    WHERE beat_at < now() - interval '7 days' RETURNING 1),"
    /* Stripe events older than 90 days (Stripe stops redelivering after 3,
     * and a late redelivery would change nothing: docs/billing.md), except
     * what a subscription's payment state is still computed from: its last
     * invoice.paid and everything after it */
    " e AS (DELETE FROM stripe_events WHERE id IN ("
    "    SELECT x.id FROM stripe_events x"
    "    WHERE x.received_at < now() - interval '90 days'"
    "    AND (x.subscription_id IS NULL OR x.created < ("
    "      SELECT max(pd.created) FROM stripe_events pd"
    "      WHERE pd.subscription_id = x.subscription_id"
    "      AND pd.type = 'invoice.paid'))"
    "    LIMIT %s::int) RETURNING 1)"
    " SELECT (SELECT count(*) FROM i), (SELECT count(*) FROM s),"
    "        (SELECT count(*) FROM l) + (SELECT count(*) FROM h)"
    "        + (SELECT count(*) FROM e)" };

webot_dbrc_e webot_store_worker_housekeep(webot_db_t *db, apr_pool_t *p,
                                          int limit, int *idem,
                                          int *sessions, int *other)
{
    const char *args[4];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    args[0] = args[1] = args[2] = args[3] = apr_itoa(p, limit);
    if ((rc = webot_db_select(db, p, &ST_HOUSEKEEP, &rows, 4, args))
        != WEBOT_DB_OK) {
        return rc;
    }
    if (idem) {
        *idem = rows->n ? (int)to_ll(WEBOT_ROW(rows, 0, 0)) : 0;
    }
    if (sessions) {
        *sessions = rows->n ? (int)to_ll(WEBOT_ROW(rows, 0, 1)) : 0;
    }
    if (other) {
        *other = rows->n ? (int)to_ll(WEBOT_ROW(rows, 0, 2)) : 0;
    }
    return WEBOT_DB_OK;
}
