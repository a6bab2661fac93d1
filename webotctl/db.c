/* db.c: a small libpq wrapper for webotctl. Every statement goes through
 * PQexecParams with text parameters; nothing is string-built. */
#include "webotctl.h"

#include <apr_strings.h>
#include <string.h>

/* One line from a libpq message: whitespace runs become one space. */
static const char *one_line(apr_pool_t *p, const char *msg)
{
    char *out = apr_pstrdup(p, msg ? msg : ""), *o = out;
    const char *s;
    int space = 0;

    for (s = msg ? msg : ""; *s; s++) {
        if (*s == '\n' || *s == '\t' || *s == '\r' || *s == ' ') {
            space = o > out;
            continue;
        }
        if (space) {
            *o++ = ' ';
            space = 0;
        }
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* "host=H port=P dbname=D user=U" of a connection, without the password. */
static const char *describe(apr_pool_t *p, PGconn *conn)
{
    const char *host = PQhost(conn), *port = PQport(conn);
    const char *db = PQdb(conn), *user = PQuser(conn);
    return apr_psprintf(p, "host=%s port=%s dbname=%s user=%s",
                        host && *host ? host : "(default)",
                        port && *port ? port : "(default)",
                        db && *db ? db : "(default)",
                        user && *user ? user : "(default)");
}

int wctl_db_connect(wctl_t *c)
{
    /* The conninfo comes last so that it overrides these defaults. */
    const char *const keys[] = { "connect_timeout",
                                 "fallback_application_name", "dbname",
                                 NULL };
    const char *const vals[] = { "10", "webotctl", c->db, NULL };
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(c->db, &perr);

    if (!parsed) {
        /* libpq's parse message may quote parts of the string: not shown */
        PQfreemem(perr);
        wctl_err("invalid database connection string (from --db or "
                 "WEBOT_DB)");
        return WCTL_ERR;
    }
    PQconninfoFree(parsed);
    c->conn = PQconnectdbParams(keys, vals, 1);
    if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) {
        wctl_err("cannot connect to the database (%s): %s",
                 c->conn ? describe(c->pool, c->conn) : "?",
                 c->conn ? one_line(c->pool, PQerrorMessage(c->conn))
                         : "out of memory");
        wctl_db_close(c);
        return WCTL_ERR;
    }
    return WCTL_OK;
}

void wctl_db_close(wctl_t *c)
{
    if (c->conn) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
}

PGresult *wctl_q(wctl_t *c, const char *sql, int n,
                 const char *const *params, int *ok)
{
    PGresult *res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL,
                                 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    *ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    return res;
}

void wctl_db_error(const PGresult *res, const char *what)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                          : NULL;
    if (!msg && res) {
        msg = PQresultErrorMessage(res);
    }
    wctl_err("%s: %s", what, msg && *msg ? msg : "database error");
}

int wctl_exec(wctl_t *c, const char *sql, int n, const char *const *params)
{
    int ok;
    PGresult *res = wctl_q(c, sql, n, params, &ok);
    if (!ok) {
        wctl_db_error(res, "database error");
    }
    PQclear(res);
    return ok ? WCTL_OK : WCTL_ERR;
}

int wctl_begin(wctl_t *c)
{
    return wctl_exec(c, "BEGIN", 0, NULL);
}

int wctl_commit(wctl_t *c)
{
    return wctl_exec(c, "COMMIT", 0, NULL);
}

void wctl_rollback(wctl_t *c)
{
    PQclear(PQexec(c->conn, "ROLLBACK"));
}

const char *wctl_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

const char *wctl_constraint(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME)
                        : NULL;
    return s ? s : "";
}

int wctl_account_exists(wctl_t *c, const char *id)
{
    const char *params[1] = { id };
    int ok, found;
    PGresult *res = wctl_q(c, "SELECT 1 FROM accounts WHERE id = $1", 1,
                           params, &ok);
    if (!ok) {
        wctl_db_error(res, "looking up the account");
        PQclear(res);
        return -1;
    }
    found = PQntuples(res) == 1;
    PQclear(res);
    if (!found) {
        wctl_err("unknown account %s", id);
    }
    return found;
}
