/* cmd_job.c: webotctl job review JOB_ID --release|--reject [--note TEXT]
 * One transaction: the status change, its customer-safe event, the quota
 * refund of a rejected job (once), and NOTIFY webot_job_events. */
#include "webotctl.h"
#include "webot_util.h"

#include <apr_strings.h>
#include <string.h>

#define NOTE_MAX_CHARS 4000

typedef struct review_t {
    const char *job_id;
    const char *status;         /* ready_for_customer_review | rejected */
    const char *note;           /* staff only, may be NULL */
    const char *seq;            /* event_seq after the update */
    const char *account_id;
    int refunded;
} review_t;

static const char update_sql[] =
    "UPDATE jobs SET status = $2, staff_note = COALESCE($3, staff_note),"
    " updated_at = clock_timestamp(), event_seq = event_seq + 1,"
    " lease_owner = NULL, lease_until = NULL"
    " WHERE id = $1 AND status = 'needs_review'"
    " RETURNING event_seq, account_id";

/* Marks the job refunded and gives its quota unit back, once. */
static const char refund_sql[] =
    "WITH j AS (UPDATE jobs SET quota_refunded = true"
    "   WHERE id = $1 AND NOT quota_refunded"
    "   AND quota_period_start IS NOT NULL"
    "   RETURNING account_id, quota_period_start),"
    " q AS (UPDATE quota_periods p SET used = p.used - 1 FROM j"
    "   WHERE p.account_id = j.account_id"
    "   AND p.period_start = j.quota_period_start AND p.used > 0"
    "   RETURNING 1)"
    " SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM q)";

/* Explains why the update matched nothing. */
static void not_reviewable(wctl_t *c, const char *job_id)
{
    const char *params[1] = { job_id };
    int ok;
    PGresult *res = wctl_q(c, "SELECT status FROM jobs WHERE id = $1", 1,
                           params, &ok);
    if (!ok) {
        wctl_db_error(res, "looking up the job");
    }
    else if (PQntuples(res) == 0) {
        wctl_err("unknown job %s", job_id);
    }
    else {
        wctl_err("job %s is %s, not needs_review; only needs_review jobs "
                 "can be reviewed", job_id, PQgetvalue(res, 0, 0));
    }
    PQclear(res);
}

static int update_job(wctl_t *c, review_t *r)
{
    const char *params[3] = { r->job_id, r->status, r->note };
    int ok, rv = WCTL_ERR;
    PGresult *res = wctl_q(c, update_sql, 3, params, &ok);

    if (!ok) {
        wctl_db_error(res, "updating the job");
    }
    else if (PQntuples(res) == 0) {
        not_reviewable(c, r->job_id);
    }
    else {
        r->seq = apr_pstrdup(c->pool, PQgetvalue(res, 0, 0));
        r->account_id = apr_pstrdup(c->pool, PQgetvalue(res, 0, 1));
        rv = WCTL_OK;
    }
    PQclear(res);
    return rv;
}

static int refund(wctl_t *c, review_t *r)
{
    const char *params[1] = { r->job_id };
    int ok;
    PGresult *res = wctl_q(c, refund_sql, 1, params, &ok);

    if (!ok) {
        wctl_db_error(res, "refunding the quota unit");
    }
    else {
        r->refunded = strcmp(PQgetvalue(res, 0, 1), "0") != 0;
    }
    PQclear(res);
    return ok ? WCTL_OK : WCTL_ERR;
}

/* The customer-visible message; never carries the staff note. */
static const char *event_message(const review_t *r)
{
    if (strcmp(r->status, "rejected") != 0) {
        return "The deliverable passed staff review and is ready for your "
               "review.";
    }
    return r->refunded
        ? "The job was rejected in staff review. Its quota unit has been "
          "refunded."
        : "The job was rejected in staff review.";
}

static int insert_events(wctl_t *c, const review_t *r)
{
    const char *ev[7], *ue[3], *notify[1] = { r->job_id };

    ev[0] = webot_id_new(c->pool, "evt_");
    ue[0] = webot_id_new(c->pool, "ue_");
    if (!ev[0] || !ue[0]) {
        wctl_err("the system random number generator failed");
        return WCTL_ERR;
    }
    ev[1] = r->job_id, ev[2] = r->account_id, ev[3] = r->seq;
    ev[4] = strcmp(r->status, "rejected") ? "job.ready_for_customer_review"
                                          : "job.rejected";
    ev[5] = r->status, ev[6] = event_message(r);
    ue[1] = r->account_id, ue[2] = r->job_id;
    if (wctl_exec(c, "INSERT INTO job_events (id, job_id, account_id, seq,"
                  " type, status, message)"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, ev) != WCTL_OK
        || (r->refunded
            && wctl_exec(c, "INSERT INTO usage_events (id, account_id, type,"
                         " job_id) VALUES ($1, $2, 'job.refunded', $3)", 3,
                         ue) != WCTL_OK)) {
        return WCTL_ERR;
    }
    return wctl_exec(c, "SELECT pg_notify('webot_job_events', $1)", 1,
                     notify);
}

static int review(wctl_t *c, review_t *r)
{
    if (wctl_db_connect(c) != WCTL_OK || wctl_begin(c) != WCTL_OK) {
        return WCTL_ERR;
    }
    if (update_job(c, r) != WCTL_OK
        || (!strcmp(r->status, "rejected") && refund(c, r) != WCTL_OK)
        || insert_events(c, r) != WCTL_OK
        || wctl_commit(c) != WCTL_OK) {
        wctl_rollback(c);
        return WCTL_ERR;
    }
    if (c->json) {
        return wctl_print_json(json_pack("{s:s,s:s}", "id", r->job_id,
                                         "status", r->status));
    }
    printf("%s: %s%s\n", r->job_id, r->status,
           r->refunded ? " (quota unit refunded)" : "");
    return WCTL_OK;
}

int wctl_cmd_job(wctl_t *c, int argc, char **argv)
{
    wctl_opt_t opts[] = { { "--release", 0, NULL }, { "--reject", 0, NULL },
                          { "--note", 1, NULL }, { NULL, 0, NULL } };
    const char *pos[1];
    review_t r;
    int npos, rv, release, reject;
    long n;

    if ((rv = wctl_subcommand("job", argc, argv, "review")) != 0
        || (rv = wctl_parse(c, argc - 1, argv + 1, opts, pos, 1, &npos))) {
        return rv;
    }
    release = wctl_opt(opts, "--release") != NULL;
    reject = wctl_opt(opts, "--reject") != NULL;
    if (npos != 1) {
        return wctl_missing("job review", "JOB_ID");
    }
    if (release == reject) {
        return wctl_usage_error("job review needs exactly one of --release "
                                "and --reject");
    }
    memset(&r, 0, sizeof(r));
    r.job_id = pos[0];
    r.status = release ? "ready_for_customer_review" : "rejected";
    r.note = wctl_opt(opts, "--note");
    n = r.note ? wctl_utf8_len(r.note) : 0;
    if (n < 0 || n > NOTE_MAX_CHARS) {
        wctl_err("--note must be at most %d characters of UTF-8",
                 NOTE_MAX_CHARS);
        return WCTL_ERR;
    }
    return review(c, &r);
}
