/* webot_job.h: the job state machine (contract "Statuses and transitions"),
 * the customer-safe event texts, and the job object renderer. Core: no
 * httpd, no SQL. The worker and webotctl use the same table, so there is
 * one place that says which move is allowed and what the customer reads. */
#ifndef WEBOT_JOB_H
#define WEBOT_JOB_H

#include <apr_pools.h>
#include <apr_tables.h>

/* Statuses in the contract's order (GET /catalog job_statuses). */
typedef enum {
    WEBOT_JOB_QUEUED = 0,
    WEBOT_JOB_ACCEPTED,
    WEBOT_JOB_RUNNING,
    WEBOT_JOB_NEEDS_REVIEW,
    WEBOT_JOB_READY,            /* ready_for_customer_review */
    WEBOT_JOB_COMPLETED,
    WEBOT_JOB_REJECTED,
    WEBOT_JOB_CANCELED,
    WEBOT_JOB_NSTATUS
} webot_job_status_e;

/* Customer actions (bits, so a set is one unsigned). */
#define WEBOT_ACT_APPROVE   0x1
#define WEBOT_ACT_REVISION  0x2
#define WEBOT_ACT_CANCEL    0x4

/* Who moves a job: the customer (approve/cancel/revision), the worker,
 * or staff (webotctl job review). */
typedef enum {
    WEBOT_BY_CUSTOMER = 0,
    WEBOT_BY_WORKER,
    WEBOT_BY_STAFF
} webot_job_actor_e;

/* "queued" → WEBOT_JOB_QUEUED; -1 when unknown. */
int webot_job_status_parse(const char *s);
const char *webot_job_status_name(int st);
int webot_job_status_terminal(int st);
/* Counts against the plan's max_active_jobs: queued, accepted, running
 * (work not yet delivered). Keep in step with sql/003_jobs.sql. */
int webot_job_status_active(int st);

/* "approve" | "cancel" | "revision" → WEBOT_ACT_*; 0 when unknown. */
unsigned webot_job_action_parse(const char *s);
const char *webot_job_action_name(unsigned act);

/* The actions a customer may take now (WEBOT_ACT_* bits). */
unsigned webot_job_allowed_actions(int st, int revision_count,
                                   int max_revisions);
/* The same as a JSON array text, in the order approve, revision, cancel:
 * e.g. ["approve","revision","cancel"] (static storage). */
const char *webot_job_actions_json(unsigned acts);

typedef enum {
    WEBOT_MOVE_OK = 0,          /* *to is the new status */
    WEBOT_MOVE_NOOP,            /* repeated approve/cancel: 200 unchanged */
    WEBOT_MOVE_INVALID          /* 409 INVALID_STATE */
} webot_move_e;

/* What a customer action does to a job in status st. */
webot_move_e webot_job_customer_move(unsigned act, int st,
                                     int revision_count, int max_revisions,
                                     int *to);
/* Statuses from which act is a real move, as a PostgreSQL text[] literal
 * for the SQL guard (e.g. "{ready_for_customer_review}"). */
const char *webot_job_action_from_sql(unsigned act);

/* Whether the contract's table allows from → to by this actor. */
int webot_job_transition_allowed(int from, int to, webot_job_actor_e by);

/* Event types: "job.<status>" for a status change, and
 * "job.revision_requested" (status queued) for a customer revision. */
const char *webot_job_event_type(int to, unsigned act);
/* The customer-safe message of an event type; refunded adds the refund
 * sentence where one applies (cancel, reject). Never carries staff notes,
 * executor addresses or internal errors. */
const char *webot_job_event_message(const char *type, int refunded);

/* --- the job object --------------------------------------------------- */

/* A job as stored. The *_json members are JSON texts (as PostgreSQL
 * prints jsonb / array_to_json, or as the request gave them); they are
 * embedded after removing insignificant whitespace. */
typedef struct webot_job_t {
    const char *id;
    const char *status;
    const char *service_family;
    const char *service_option;
    const char *title;              /* NULL → null */
    const char *intake_json;        /* object */
    const char *file_ids_json;      /* array */
    const char *metadata_json;      /* object */
    int revision_count;
    int max_revisions;
    const char *deliverable_json;   /* NULL → null */
    const char *created_at;         /* RFC 3339 */
    const char *updated_at;
} webot_job_t;

/* Renders the contract's job object as compact JSON; base is the API
 * mount for links ("/api/v1"). */
char *webot_job_render(apr_pool_t *p, const webot_job_t *j,
                       const char *base);
/* Appends a JSON string literal of s (escaped) to buf. */
void webot_json_quote(apr_array_header_t *buf, const char *s);
/* Appends a JSON text with insignificant whitespace removed. */
void webot_json_minify(apr_array_header_t *buf, const char *json);
/* Appends a NUL-free C string. */
void webot_buf_puts(apr_array_header_t *buf, const char *s);
/* Terminates and returns the buffer's text. */
char *webot_buf_text(apr_array_header_t *buf);

#endif
