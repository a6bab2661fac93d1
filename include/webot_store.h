/* webot_store.h: every SQL statement of the module goes through here.
 * Connections come from mod_dbd (the glue wraps an ap_dbd_t in a
 * webot_db_t); statements are prepared lazily per connection and prepared
 * again when the connection was reset (its backend pid changed), so a
 * PostgreSQL restart costs one failed query, never a stuck connection.
 * Core: apr-util's DBD API and libpq only, no httpd. */
#ifndef WEBOT_STORE_H
#define WEBOT_STORE_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_dbd.h>

#include "webot_error.h"

typedef struct webot_db_t {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_pool_t *conn_pool;      /* lives as long as the connection */
    apr_hash_t *cache;          /* prepared statements, by name */
    int down;                   /* a connection-level failure was seen */
    int in_tx;
    int timeout_ms;             /* the session's statement_timeout, 0 none
                                 * (webot_db_set_timeout) */
} webot_db_t;

/* A statement: a unique static name, "webot_"-prefixed (it is the
 * server-side label and the cache key), and apr_dbd SQL with %s
 * placeholders (cast in SQL: %s::int; a literal percent is %%). */
typedef struct webot_stmt_t {
    const char *name;
    const char *sql;
} webot_stmt_t;

typedef struct webot_rows_t {
    int n;                      /* rows */
    int cols;
    const char **v;             /* n * cols values, NULL for SQL NULL */
} webot_rows_t;

#define WEBOT_ROW(rows, i, j) ((rows)->v[(i) * (rows)->cols + (j)])

typedef enum {
    WEBOT_DB_OK = 0,
    WEBOT_DB_ERROR,             /* the statement failed */
    WEBOT_DB_DOWN,              /* the connection or database is gone */
    WEBOT_DB_BUSY               /* the statement ran out of its time
                                 * (statement_timeout): 503, retry later */
} webot_dbrc_e;

/* Sets the connection's statement_timeout (session-wide, so once per
 * backend: a reset connection gets it again) and remembers it in db, so
 * that a statement failing after that long counts as WEBOT_DB_BUSY. 0 = no
 * limit. Failures are left for the next statement to see. */
void webot_db_set_timeout(webot_db_t *db, apr_pool_t *p, int ms);

/* Runs a statement with nargs text arguments (NULL = SQL NULL) and reads
 * every row into p. */
webot_dbrc_e webot_db_select(webot_db_t *db, apr_pool_t *p,
                             const webot_stmt_t *st, webot_rows_t **out,
                             int nargs, const char *const *args);
/* Runs a statement that returns no rows; *affected may be NULL. */
webot_dbrc_e webot_db_exec(webot_db_t *db, apr_pool_t *p,
                           const webot_stmt_t *st, int *affected,
                           int nargs, const char *const *args);

webot_dbrc_e webot_db_begin(webot_db_t *db, apr_pool_t *p);
webot_dbrc_e webot_db_commit(webot_db_t *db, apr_pool_t *p);
/* Rolls back if a transaction is open; safe to call twice. */
void webot_db_rollback(webot_db_t *db, apr_pool_t *p);

/* The last database error message, for the log only (never a client). */
const char *webot_db_errmsg(webot_db_t *db);

/* The contract error for a failed store call: DOWN → 503
 * SERVICE_UNAVAILABLE with Retry-After, ERROR → 500 INTERNAL_ERROR. */
webot_error_t *webot_db_error(apr_pool_t *p, webot_dbrc_e rc);

/* --- store operations of the foundation ------------------------------ */

/* SELECT 1 and the schema version; *version may be NULL. */
webot_dbrc_e webot_store_ping(webot_db_t *db, apr_pool_t *p,
                              const char **version);

#endif
