/* webot_stream.c: LISTEN connections of job event streams (webot_stream.h). */
#include "webot_stream.h"
#include "webot_store_jobs.h"

#include <apr_strings.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

struct webot_stream_t {
    PGconn *conn;
};

#define RFC(x) "to_char(" x " AT TIME ZONE 'UTC', " \
               "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const char SQL_CLAIM[] =
    "SELECT s FROM generate_series(0, $2::int - 1) s"
    " WHERE pg_try_advisory_lock(hashtextextended('webot-sse ' || $1, s))"
    " LIMIT 1";

static const char SQL_FETCH[] =
    "SELECT j.status, e.id, e.seq, e.type, e.status, e.message, "
    RFC("e.created_at")
    " FROM jobs j LEFT JOIN LATERAL (SELECT * FROM job_events x"
    "   WHERE x.job_id = j.id AND x.seq > $3::int ORDER BY x.seq"
    "   LIMIT $4::int) e ON true"
    " WHERE j.id = $1 AND j.account_id = $2 ORDER BY e.seq";

static apr_status_t stream_cleanup(void *data)
{
    webot_stream_close(data);
    return APR_SUCCESS;
}

webot_stream_t *webot_stream_open(apr_pool_t *p, const char *conninfo,
                                  const char **err)
{
    static const char *const keys[] = { "dbname", "connect_timeout",
                                        "application_name", NULL };
    const char *vals[4];
    webot_stream_t *s = apr_pcalloc(p, sizeof(*s));

    vals[0] = conninfo;
    vals[1] = "5";
    vals[2] = "webot-events";
    vals[3] = NULL;
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        *err = s->conn ? apr_pstrdup(p, PQerrorMessage(s->conn))
                       : "out of memory";
        if (s->conn) {
            PQfinish(s->conn);
            s->conn = NULL;
        }
        return NULL;
    }
    apr_pool_cleanup_register(p, s, stream_cleanup, apr_pool_cleanup_null);
    return s;
}

int webot_stream_claim(webot_stream_t *s, const char *account_id, int limit)
{
    const char *vals[2];
    char lim[16];
    PGresult *res;
    int slot;

    apr_snprintf(lim, sizeof(lim), "%d", limit);
    vals[0] = account_id;
    vals[1] = lim;
    res = PQexecParams(s->conn, SQL_CLAIM, 2, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return -2;
    }
    slot = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return slot;
}

int webot_stream_listen(webot_stream_t *s)
{
    PGresult *res = PQexec(s->conn, "LISTEN webot_job_events");
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? 0 : -1;
}

int webot_stream_fetch(webot_stream_t *s, apr_pool_t *p,
                       const char *account_id, const char *job_id,
                       int after, int limit, int *found, const char **status,
                       apr_array_header_t **events)
{
    const char *vals[4];
    char a[16], l[16];
    PGresult *res;
    int i, n;

    apr_snprintf(a, sizeof(a), "%d", after);
    apr_snprintf(l, sizeof(l), "%d", limit);
    vals[0] = job_id;
    vals[1] = account_id;
    vals[2] = a;
    vals[3] = l;
    *found = 0;
    *status = NULL;
    *events = apr_array_make(p, 8, sizeof(webot_event_row_t *));
    res = PQexecParams(s->conn, SQL_FETCH, 4, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 7) {
        PQclear(res);
        return -1;
    }
    n = PQntuples(res);
    if (n > 0) {
        *found = 1;
        *status = apr_pstrdup(p, PQgetvalue(res, 0, 0));
    }
    for (i = 0; i < n; i++) {
        webot_event_row_t *e;
        if (PQgetisnull(res, i, 1)) {
            continue;
        }
        e = apr_pcalloc(p, sizeof(*e));
        e->id = apr_pstrdup(p, PQgetvalue(res, i, 1));
        e->seq = atoi(PQgetvalue(res, i, 2));
        e->type = apr_pstrdup(p, PQgetvalue(res, i, 3));
        e->status = apr_pstrdup(p, PQgetvalue(res, i, 4));
        e->message = apr_pstrdup(p, PQgetvalue(res, i, 5));
        e->created_at = apr_pstrdup(p, PQgetvalue(res, i, 6));
        APR_ARRAY_PUSH(*events, webot_event_row_t *) = e;
    }
    PQclear(res);
    return 0;
}

int webot_stream_socket(webot_stream_t *s)
{
    return s->conn ? PQsocket(s->conn) : -1;
}

int webot_stream_consume(webot_stream_t *s, const char *job_id, int *hit)
{
    PGnotify *n;
    *hit = 0;
    if (!s->conn || !PQconsumeInput(s->conn)
        || PQstatus(s->conn) != CONNECTION_OK) {
        return -1;
    }
    while ((n = PQnotifies(s->conn)) != NULL) {
        if (n->extra && !strcmp(n->extra, job_id)) {
            *hit = 1;
        }
        PQfreemem(n);
    }
    return 0;
}

const char *webot_stream_error(webot_stream_t *s)
{
    const char *m = s && s->conn ? PQerrorMessage(s->conn) : NULL;
    return m && *m ? m : "connection closed";
}

void webot_stream_close(webot_stream_t *s)
{
    if (s && s->conn) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
}
