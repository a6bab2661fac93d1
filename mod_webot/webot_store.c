/* webot_store.c: connection wrapper and statement execution. */
#include "webot_store.h"

#include <apr_strings.h>
#include <libpq-fe.h>
#include <string.h>

typedef struct {
    apr_dbd_prepared_t *stmt;
    int pid;                    /* backend that prepared it */
} cached_stmt_t;

static PGconn *native(webot_db_t *db)
{
    return (PGconn *)apr_dbd_native_handle(db->driver, db->handle);
}

/* What a failed statement means: the connection is gone, the statement ran
 * into the session's statement_timeout (it failed no sooner than that: the
 * SQLSTATE is not available through apr_dbd), or it failed. */
static webot_dbrc_e classify(webot_db_t *db, apr_time_t started)
{
    PGconn *c = native(db);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        db->down = 1;
        return WEBOT_DB_DOWN;
    }
    if (db->timeout_ms > 0 && apr_time_now() - started
                              >= apr_time_from_msec(db->timeout_ms) - 50000) {
        return WEBOT_DB_BUSY;
    }
    return WEBOT_DB_ERROR;
}

static apr_dbd_prepared_t *prepare(webot_db_t *db, const webot_stmt_t *st)
{
    PGconn *c = native(db);
    int pid = c ? PQbackendPID(c) : 0;
    /* st->name is static and already "webot_"-prefixed: no allocation on
     * the hot path (conn_pool lives as long as the connection). */
    const char *label = st->name;
    cached_stmt_t *cs = apr_hash_get(db->cache, label, APR_HASH_KEY_STRING);

    if (cs && cs->pid == pid) {
        return cs->stmt;
    }
    if (!cs) {
        cs = apr_pcalloc(db->conn_pool, sizeof(*cs));
        apr_hash_set(db->cache, label, APR_HASH_KEY_STRING, cs);
    }
    cs->stmt = NULL;
    if (apr_dbd_prepare(db->driver, db->conn_pool, db->handle, st->sql,
                        label, &cs->stmt) != 0) {
        cs->stmt = NULL;
        return NULL;
    }
    cs->pid = pid;
    return cs->stmt;
}

webot_dbrc_e webot_db_select(webot_db_t *db, apr_pool_t *p,
                             const webot_stmt_t *st, webot_rows_t **out,
                             int nargs, const char *const *args)
{
    apr_dbd_prepared_t *ps;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    webot_rows_t *rows;
    apr_time_t started;
    int i, n, cols;

    if (db->down) {
        return WEBOT_DB_DOWN;
    }
    started = apr_time_now();
    if (!(ps = prepare(db, st))) {
        return classify(db, started);
    }
    if (apr_dbd_pselect(db->driver, p, db->handle, &res, ps, 1, nargs,
                        (const char **)args) != 0) {
        return classify(db, started);
    }
    n = apr_dbd_num_tuples(db->driver, res);
    cols = apr_dbd_num_cols(db->driver, res);
    rows = apr_pcalloc(p, sizeof(*rows));
    rows->n = n < 0 ? 0 : n;
    rows->cols = cols;
    rows->v = apr_pcalloc(p, sizeof(char *) * (apr_size_t)(rows->n * cols + 1));
    for (i = 0; i < rows->n; i++) {
        int j;
        if (apr_dbd_get_row(db->driver, p, res, &row, i + 1) != 0) {
            break;
        }
        for (j = 0; j < cols; j++) {
            const char *v = apr_dbd_get_entry(db->driver, row, j);
            char *dv = NULL;
            /* the pgsql driver's get_entry gives "" for SQL NULL; its
             * datum_get tells them apart (APR_ENOENT) */
            if (v && !*v
                && apr_dbd_datum_get(db->driver, row, j, APR_DBD_TYPE_STRING,
                                     &dv) == APR_ENOENT) {
                v = NULL;
            }
            WEBOT_ROW(rows, i, j) = v ? apr_pstrdup(p, v) : NULL;
        }
    }
    *out = rows;
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_db_exec(webot_db_t *db, apr_pool_t *p,
                           const webot_stmt_t *st, int *affected,
                           int nargs, const char *const *args)
{
    apr_dbd_prepared_t *ps;
    apr_time_t started;
    int nrows = 0;

    if (db->down) {
        return WEBOT_DB_DOWN;
    }
    started = apr_time_now();
    if (!(ps = prepare(db, st))) {
        return classify(db, started);
    }
    if (apr_dbd_pquery(db->driver, p, db->handle, &nrows, ps, nargs,
                       (const char **)args) != 0) {
        return classify(db, started);
    }
    if (affected) {
        *affected = nrows;
    }
    return WEBOT_DB_OK;
}

static webot_dbrc_e simple(webot_db_t *db, const char *sql)
{
    apr_time_t started;
    int nrows = 0;
    if (db->down) {
        return WEBOT_DB_DOWN;
    }
    started = apr_time_now();
    if (apr_dbd_query(db->driver, db->handle, &nrows, sql) != 0) {
        return classify(db, started);
    }
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_db_begin(webot_db_t *db, apr_pool_t *p)
{
    webot_dbrc_e rc;
    (void)p;
    rc = simple(db, "BEGIN");
    db->in_tx = rc == WEBOT_DB_OK;
    return rc;
}

webot_dbrc_e webot_db_commit(webot_db_t *db, apr_pool_t *p)
{
    webot_dbrc_e rc;
    (void)p;
    rc = simple(db, "COMMIT");
    db->in_tx = 0;
    return rc;
}

void webot_db_rollback(webot_db_t *db, apr_pool_t *p)
{
    (void)p;
    if (db->in_tx) {
        db->in_tx = 0;
        if (!db->down) {
            simple(db, "ROLLBACK");
        }
    }
}

const char *webot_db_errmsg(webot_db_t *db)
{
    const char *m = apr_dbd_error(db->driver, db->handle, 0);
    return m ? m : "unknown database error";
}

webot_error_t *webot_db_error(apr_pool_t *p, webot_dbrc_e rc)
{
    if (rc == WEBOT_DB_DOWN) {
        return webot_error_make(p, "SERVICE_UNAVAILABLE",
            "The database is unavailable; retry in a few seconds.");
    }
    if (rc == WEBOT_DB_BUSY) {
        return webot_error_make(p, "SERVICE_UNAVAILABLE",
            "The database did not answer in time; retry in a few seconds.");
    }
    return webot_error_make(p, "INTERNAL_ERROR",
        "An internal error occurred; it has been logged.");
}

/* --- session settings ------------------------------------------------ */

/* Kept in the connection's statement cache under a name no statement has
 * (statements are "webot_..."): the backend that has the setting. */
#define TIMEOUT_KEY "webot:statement_timeout"
typedef struct {
    int pid;
    int ms;
} session_timeout_t;

static const webot_stmt_t ST_SET_TIMEOUT = { "webot_set_timeout",
    "SELECT set_config('statement_timeout', %s, false)" };

void webot_db_set_timeout(webot_db_t *db, apr_pool_t *p, int ms)
{
    PGconn *c = native(db);
    session_timeout_t *t;
    const char *arg[1];
    webot_rows_t *rows;
    int pid;

    if (!c || !db->cache) {
        return;
    }
    pid = PQbackendPID(c);
    t = apr_hash_get(db->cache, TIMEOUT_KEY, APR_HASH_KEY_STRING);
    if (t && t->pid == pid && t->ms == ms) {
        db->timeout_ms = ms;
        return;
    }
    db->timeout_ms = 0;
    arg[0] = apr_itoa(p, ms);
    if (webot_db_select(db, p, &ST_SET_TIMEOUT, &rows, 1, arg)
        != WEBOT_DB_OK) {
        return;
    }
    if (!t) {
        t = apr_pcalloc(db->conn_pool, sizeof(*t));
        apr_hash_set(db->cache, TIMEOUT_KEY, APR_HASH_KEY_STRING, t);
    }
    t->pid = pid;
    t->ms = ms;
    db->timeout_ms = ms;
}

/* --- foundation operations ------------------------------------------ */

static const webot_stmt_t ST_PING = { "webot_ping",
    "SELECT coalesce((SELECT max(version) FROM schema_migrations), '')" };

webot_dbrc_e webot_store_ping(webot_db_t *db, apr_pool_t *p,
                              const char **version)
{
    webot_rows_t *rows;
    webot_dbrc_e rc = webot_db_select(db, p, &ST_PING, &rows, 0, NULL);
    if (rc == WEBOT_DB_OK && version) {
        *version = rows->n ? WEBOT_ROW(rows, 0, 0) : NULL;
    }
    return rc;
}
