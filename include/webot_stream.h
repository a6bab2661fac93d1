/* webot_stream.h: the database side of job event streams (SSE). Each
 * stream has its own libpq connection (not one of mod_dbd's pool, which a
 * stream of minutes would starve): it LISTENs on webot_job_events (every
 * event insert NOTIFYs the job id there), reads new events when its job is
 * named, and holds one of the account's stream slots as a session
 * advisory lock, so the per-account cap holds across processes and hosts
 * and a slot frees itself when the connection closes. Core: libpq only. */
#ifndef WEBOT_STREAM_H
#define WEBOT_STREAM_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef struct webot_stream_t webot_stream_t;

/* Connects (connect_timeout 5 s unless conninfo says otherwise); the
 * connection is closed when p is cleared. NULL and *err (no password or
 * secret in it) on failure. */
webot_stream_t *webot_stream_open(apr_pool_t *p, const char *conninfo,
                                  const char **err);

/* Takes a free slot of the account's `limit`: its number, -1 when all are
 * taken, -2 on a database error. */
int webot_stream_claim(webot_stream_t *s, const char *account_id, int limit);

/* LISTEN webot_job_events; 0 or -1. */
int webot_stream_listen(webot_stream_t *s);

/* Events of the job with seq > after (at most limit, in order) into
 * *events (webot_event_row_t *, see webot_store_jobs.h); *found = 0 when
 * the job is not the account's; *status is its current status. 0 or -1. */
int webot_stream_fetch(webot_stream_t *s, apr_pool_t *p,
                       const char *account_id, const char *job_id,
                       int after, int limit, int *found, const char **status,
                       apr_array_header_t **events);

/* The connection's socket, to wait on. */
int webot_stream_socket(webot_stream_t *s);

/* Reads what arrived; *hit = 1 when a notification named job_id. 0, or
 * -1 when the connection is lost. */
int webot_stream_consume(webot_stream_t *s, const char *job_id, int *hit);

/* The last error of the connection (for the log). */
const char *webot_stream_error(webot_stream_t *s);

void webot_stream_close(webot_stream_t *s);

#endif
