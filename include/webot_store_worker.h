/* webot_store_worker.h: SQL of the job worker. Claiming with leases
 * (FOR UPDATE SKIP LOCKED), the worker's status changes with their events
 * (guarded in SQL on the lease owner and the expected status, so a
 * customer's cancel racing the worker has exactly one winner), retries,
 * lease renewal and release, heartbeats and housekeeping. Core: no httpd.
 *
 * Every statement that appends job events also NOTIFYs webot_job_events
 * with the job id, like the rest of the module. */
#ifndef WEBOT_STORE_WORKER_H
#define WEBOT_STORE_WORKER_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>

#include "webot_store.h"
#include "webot_entitlement.h"

/* A claimed job, as the claim returns it. */
typedef struct webot_wjob_t {
    const char *id;
    const char *account_id;
    const char *status;             /* queued | accepted | running */
    const char *family;
    const char *option;
    const char *title;              /* or NULL */
    const char *intake;             /* JSON text */
    const char *metadata;           /* JSON text */
    apr_array_header_t *file_ids;   /* const char * */
    int revision_count;
    const char *revision_notes;     /* or NULL */
    int attempts;                   /* including this one */
    int cancel_requested;
    int refundable;                 /* charged to a quota period, not
                                     * refunded yet */
    const char *created_at;         /* RFC 3339 */
} webot_wjob_t;

/* Claims at most `limit` jobs whose turn it is (queued, accepted or
 * running; next_attempt_at reached; no live lease), oldest first, for
 * `owner` with a lease of lease_secs. A claim counts an attempt (a queued
 * job starts again at attempt 1). *jobs holds webot_wjob_t *. */
webot_dbrc_e webot_store_worker_claim(webot_db_t *db, apr_pool_t *p,
                                      const char *owner, int lease_secs,
                                      int limit, apr_array_header_t **jobs);

/* The entitlements of the accounts in `account_ids` (const char *), as
 * webot_ent_t * by account id (accounts without a row are absent). */
webot_dbrc_e webot_store_worker_entitlements(webot_db_t *db, apr_pool_t *p,
                                             apr_array_header_t *account_ids,
                                             apr_hash_t **out);

/* One customer-safe event of a move. */
typedef struct webot_wevent_t {
    const char *type;               /* job.accepted ... */
    const char *status;
    const char *message;
} webot_wevent_t;

#define WEBOT_WMOVE_MAX_EVENTS 3

/* A status change of a leased job. */
typedef struct webot_wmove_t {
    const char *job_id;
    const char *from;               /* the status it must still have */
    const char *to;
    const char *deliverable;        /* JSON text to store, or NULL: keep;
                                     * to needs_review it waits in
                                     * review_deliverable until staff
                                     * release the job (006) */
    const char *last_error;         /* staff-only text, or NULL: keep */
    int release;                    /* drop the lease (a resting status) */
    int nevents;
    webot_wevent_t ev[WEBOT_WMOVE_MAX_EVENTS];
    int applied;                    /* out: 1 when the guard held */
} webot_wmove_t;

/* Applies moves (webot_wmove_t *) in one statement: each job changes only
 * while it still has `from`, is leased by owner and has no cancel request
 * (moves to canceled ignore the last condition); its events get the next
 * seq numbers. Sets ->applied. Call inside or outside a transaction. */
webot_dbrc_e webot_store_worker_move(webot_db_t *db, apr_pool_t *p,
                                     const char *owner,
                                     apr_array_header_t *moves);

/* A rejection before work started: the move (queued -> rejected) and the
 * quota unit given back once (quota_refunded), with a job.refunded usage
 * event, in one transaction (the caller's, when one is open). *refunded
 * tells whether a unit was given back now. m->applied as for moves. */
webot_dbrc_e webot_store_worker_reject(webot_db_t *db, apr_pool_t *p,
                                       const char *owner, webot_wmove_t *m,
                                       int *refunded);

/* A retryable failure: the job stays running, its lease is dropped and it
 * is due again after delay_ms; last_error is kept for staff. */
webot_dbrc_e webot_store_worker_retry(webot_db_t *db, apr_pool_t *p,
                                      const char *owner, const char *job_id,
                                      long delay_ms, const char *last_error,
                                      int *applied);

/* State of a leased job seen by the renewal. */
typedef struct webot_wlease_t {
    const char *status;
    int cancel_requested;
} webot_wlease_t;

/* Extends the leases of owner's `ids` (const char *) to now + lease_secs
 * and returns, by id, webot_wlease_t * of those still leased by owner. */
webot_dbrc_e webot_store_worker_renew(webot_db_t *db, apr_pool_t *p,
                                      const char *owner,
                                      apr_array_header_t *ids,
                                      int lease_secs, apr_hash_t **alive);

/* Gives leases back (stop without finishing): the jobs are claimable at
 * once and the attempt is not counted. *released may be NULL. */
webot_dbrc_e webot_store_worker_release(webot_db_t *db, apr_pool_t *p,
                                        const char *owner,
                                        apr_array_header_t *ids,
                                        int *released);

/* Worker statistics written with each heartbeat. */
typedef struct webot_wstats_t {
    long long claimed, done, failed, retries;
    int running;
} webot_wstats_t;

/* Upserts the heartbeat row of worker_id (one per httpd instance). */
webot_dbrc_e webot_store_worker_beat(webot_db_t *db, apr_pool_t *p,
                                     const char *worker_id, const char *host,
                                     int pid, const char *owner,
                                     int starting,
                                     const webot_wstats_t *st);

/* "ok" when worker_id beat within stale_secs, else "stale". */
webot_dbrc_e webot_store_worker_state(webot_db_t *db, apr_pool_t *p,
                                      const char *worker_id, int stale_secs,
                                      const char **state);

/* Housekeeping, each bounded to `limit` rows per call: idempotency records
 * past expires_at deleted, sessions past their idle or absolute expiry
 * ended, sign-in failures older than a day and heartbeats of instances gone
 * for a week deleted. Counts may be NULL. */
webot_dbrc_e webot_store_worker_housekeep(webot_db_t *db, apr_pool_t *p,
                                          int limit, int *idem,
                                          int *sessions, int *other);

/* A PostgreSQL array literal of the strings (NULL elements are SQL NULL). */
const char *webot_pg_array(apr_pool_t *p, const char *const *v, int n);
/* Parses a text[] in PostgreSQL's output form into const char * (NULL
 * elements become NULL). Returns NULL on a malformed literal. */
apr_array_header_t *webot_pg_array_parse(apr_pool_t *p, const char *lit);

#endif
