/* webot_store_jobs.h: SQL of the jobs API: creation (idempotency, quota,
 * active-job limit, job, first event, usage event in one statement),
 * lists, job actions, events, preflight and usage figures. Every query
 * takes the account id: another account's job is simply not found. Core. */
#ifndef WEBOT_STORE_JOBS_H
#define WEBOT_STORE_JOBS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "webot_store.h"
#include "webot_job.h"

/* --- creation ----------------------------------------------------------- */

typedef struct webot_job_create_in_t {
    const char *account_id;
    const char *idem_key;
    const char *fingerprint_hex;
    const char *job_id;
    const char *event_id;
    const char *usage_id;
    const char *reject_id;          /* usage event of a refusal (groups) */
    const char *service_family;
    const char *service_option;
    const char *title;              /* NULL */
    const char *intake_json;
    const char *file_ids_sql;       /* text[] literal "{...}" */
    const char *metadata_json;
    int max_revisions;
    const char *period_start;       /* RFC 3339 with microseconds */
    const char *period_end;
    int monthly_jobs;               /* quota limit of the period */
    int max_active_jobs;
    const char *created_at;         /* RFC 3339 with microseconds */
    const char *event_message;
    const char *response_body;      /* the 201 body, kept for replays */
} webot_job_create_in_t;

typedef enum {
    WEBOT_CREATE_CREATED = 0,       /* job committed */
    WEBOT_CREATE_REPLAY,            /* the key was used before: see idem_* */
    WEBOT_CREATE_IN_PROGRESS,       /* another request holds the key */
    WEBOT_CREATE_QUOTA,             /* 402, refusal recorded */
    WEBOT_CREATE_ACTIVE_LIMIT       /* 429, refusal recorded */
} webot_create_e;

typedef struct webot_job_create_out_t {
    webot_create_e result;
    /* REPLAY: the stored record */
    const char *idem_fingerprint;   /* hex */
    const char *idem_status;        /* done | in_progress */
    int idem_response_status;
    const char *idem_response_body;
    /* QUOTA / ACTIVE_LIMIT: figures for the message */
    int quota_used;
    int active;
} webot_job_create_out_t;

/* Runs the creation. Atomic: on any outcome but CREATED nothing of the job
 * is written (a refusal writes one usage event). A created job is
 * announced on webot_jobs (NOTIFY, delivered at commit). */
webot_dbrc_e webot_store_job_create(webot_db_t *db, apr_pool_t *p,
                                    const webot_job_create_in_t *in,
                                    webot_job_create_out_t *out);

/* A group of creations in one transaction (see webot_store_jobs.c).
 * stage: every item; out[i] is REPLAY or IN_PROGRESS (its strings in
 * pools[i]), or staged[i] = 1.
 * guard: the staged items of ONE account, period and limits (in[0]'s), in
 * arrival order: out[i] becomes CREATED, QUOTA or ACTIVE_LIMIT (refused
 * items' staged rows are deleted and their refusals recorded). */
webot_dbrc_e webot_store_jobs_stage(webot_db_t *db, apr_pool_t *p,
                                    const webot_job_create_in_t *const *in,
                                    int n, webot_job_create_out_t *const *out,
                                    apr_pool_t *const *pools, int *staged);
webot_dbrc_e webot_store_jobs_guard(webot_db_t *db, apr_pool_t *p,
                                    const webot_job_create_in_t *const *in,
                                    int n, webot_job_create_out_t *const *out);

/* Begins a group's transaction and waits for the creation turn (an
 * advisory lock held until the transaction ends), in one round trip. */
webot_dbrc_e webot_store_jobs_begin_turn(webot_db_t *db, apr_pool_t *p);

/* --- reading ------------------------------------------------------------- */

/* A job row as the store reads it. */
typedef struct webot_job_row_t {
    webot_job_t job;
    const char *created_us;         /* created_at, RFC 3339 microseconds */
    int quota_refunded;
    const char *quota_period_start; /* microseconds, or NULL */
    int event_seq;
} webot_job_row_t;

/* NULL *out when there is no such job of this account. */
webot_dbrc_e webot_store_job_get(webot_db_t *db, apr_pool_t *p,
                                 const char *account_id, const char *job_id,
                                 webot_job_row_t **out);

typedef struct webot_job_filter_t {
    const char *statuses_sql;       /* text[] literal or NULL */
    const char *service_option;     /* or NULL */
    const char *created_after;      /* RFC 3339 or NULL */
    const char *created_before;
    const char *cursor_ts;          /* keyset: strictly older than these */
    const char *cursor_id;
    int limit;                      /* rows wanted (the store reads one more) */
} webot_job_filter_t;

/* Newest first by (created_at, id). *rows holds webot_job_row_t * (the
 * job and created_us; not the quota fields nor event_seq); *has_more is
 * set when there are further rows. */
webot_dbrc_e webot_store_jobs_list(webot_db_t *db, apr_pool_t *p,
                                   const char *account_id,
                                   const webot_job_filter_t *f,
                                   apr_array_header_t **rows, int *has_more);

typedef struct webot_event_row_t {
    const char *id;
    int seq;
    const char *type;
    const char *status;
    const char *message;
    const char *created_at;
} webot_event_row_t;

/* Events with seq > after, in order, at most limit. *found = 0 when the
 * job is not this account's; *job_status is its current status. */
webot_dbrc_e webot_store_job_events(webot_db_t *db, apr_pool_t *p,
                                    const char *account_id,
                                    const char *job_id, int after, int limit,
                                    int *found, const char **job_status,
                                    apr_array_header_t **events);

/* --- customer actions ---------------------------------------------------- */

/* Within a transaction (webot_db_begin): the job, locked FOR UPDATE. */
webot_dbrc_e webot_store_job_lock(webot_db_t *db, apr_pool_t *p,
                                  const char *account_id, const char *job_id,
                                  webot_job_row_t **out);

typedef struct webot_job_move_in_t {
    const char *account_id;
    const char *job_id;
    unsigned action;                /* WEBOT_ACT_* */
    const char *from_sql;           /* text[] literal of allowed statuses */
    const char *to_status;
    const char *notes;              /* revision notes, or NULL */
    const char *reason;             /* cancel reason, or NULL */
    int refund;                     /* give the quota unit back */
    const char *quota_period_start; /* the charged period (refund) */
    const char *event_id;
    const char *event_type;
    const char *event_message;
    const char *usage_id;           /* job.refunded usage event */
} webot_job_move_in_t;

/* The guarded UPDATE, its event, the refund and the notifications; *out is
 * the job after the move, NULL when the guard did not match. */
webot_dbrc_e webot_store_job_move(webot_db_t *db, apr_pool_t *p,
                                  const webot_job_move_in_t *in,
                                  webot_job_row_t **out);

/* --- idempotency records of job actions ---------------------------------- */

typedef struct webot_idem_rec_t {
    int found;
    int busy;                       /* another request holds the key */
    const char *fingerprint;        /* hex */
    const char *status;
    int response_status;
    const char *response_body;
} webot_idem_rec_t;

/* Within a transaction: the key's record, or (none) the key claimed for
 * this transaction (busy when another request holds it). */
webot_dbrc_e webot_store_idem_claim(webot_db_t *db, apr_pool_t *p,
                                    const char *account_id, const char *key,
                                    webot_idem_rec_t *out);
/* Within the same transaction: stores the answer under the key. */
webot_dbrc_e webot_store_idem_save(webot_db_t *db, apr_pool_t *p,
                                   const char *account_id, const char *key,
                                   const char *route, const char *fp_hex,
                                   int status, const char *body,
                                   const char *job_id);
/* Outside a transaction: the key's record (found = 0 when none). */
webot_dbrc_e webot_store_idem_get(webot_db_t *db, apr_pool_t *p,
                                  const char *account_id, const char *key,
                                  webot_idem_rec_t *out);

/* --- account figures ------------------------------------------------------ */

/* Inserts the account's job_counters row if it is missing. */
webot_dbrc_e webot_store_job_counters_ensure(webot_db_t *db, apr_pool_t *p,
                                             const char *account_id);

/* used of the period (0 when none) and the active-job count. */
webot_dbrc_e webot_store_job_figures(webot_db_t *db, apr_pool_t *p,
                                     const char *account_id,
                                     const char *period_start, int *used,
                                     int *active);

typedef struct webot_usage_t {
    int used;
    int active;
    int rejects;
    const char *rejects_by_code;    /* JSON object text */
    apr_array_header_t *recent;     /* webot_usage_event_t * */
    apr_array_header_t *daily;      /* webot_usage_day_t * */
} webot_usage_t;

typedef struct webot_usage_event_t {
    const char *id;
    const char *type;
    const char *job_id;
    const char *code;
    const char *created_at;
} webot_usage_event_t;

typedef struct webot_usage_day_t {
    const char *date;               /* YYYY-MM-DD (UTC) */
    int jobs_created;
    int rejects;
} webot_usage_day_t;

/* Figures of /usage: rejects counted since `since` (RFC 3339), the last
 * `recent` usage events, and 30 UTC days ending today. */
webot_dbrc_e webot_store_usage(webot_db_t *db, apr_pool_t *p,
                               const char *account_id,
                               const char *period_start, const char *since,
                               int recent, webot_usage_t *out);

#endif
