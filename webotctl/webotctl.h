/* webotctl.h: shared declarations of the webotctl operator command.
 * One file per concern: webotctl.c (main, dispatch, usage), opts.c (flag
 * parsing), paths.c (default locations), db.c (libpq wrapper), out.c
 * (printing), cmd_*.c (one file per command group). */
#ifndef WEBOTCTL_H
#define WEBOTCTL_H

#include <stdio.h>

#include <apr_pools.h>
#include <jansson.h>
#include <libpq-fe.h>

/* Exit codes. */
#define WCTL_OK     0
#define WCTL_ERR    1           /* the command failed */
#define WCTL_USAGE  2           /* bad command line */

#define WCTL_DEFAULT_DB \
    "host=127.0.0.1 port=54329 dbname=webot user=webot"

typedef struct wctl_t {
    apr_pool_t *pool;
    const char *db;             /* --db, else WEBOT_DB, else default */
    const char *catalog;        /* --catalog (NULL: resolve when needed) */
    const char *sql_dir;        /* --sql-dir (NULL: resolve when needed) */
    int json;                   /* --json */
    PGconn *conn;               /* opened lazily by wctl_db_connect */
} wctl_t;

/* ---- opts.c: flags of one command ------------------------------------ */

typedef struct wctl_opt_t {
    const char *name;           /* "--name" */
    int has_value;
    const char *value;          /* set when given (flags: "1") */
} wctl_opt_t;

/* Parses argv (the words after the command) against opts; global flags
 * (--db, --json, --catalog, --sql-dir) are accepted anywhere too.
 * Words that are not flags fill pos[0..maxpos-1]; *npos gets their count.
 * Returns 0, or WCTL_USAGE after printing the problem. */
int wctl_parse(wctl_t *c, int argc, char **argv, wctl_opt_t *opts,
               const char **pos, int maxpos, int *npos);
/* Value of a flag after wctl_parse, or NULL. */
const char *wctl_opt(const wctl_opt_t *opts, const char *name);
/* Takes one global flag at argv[*i]; returns 1 if taken, 0 if not a
 * global flag, -1 after a usage error. */
int wctl_global_flag(wctl_t *c, int argc, char **argv, int *i);
/* argv[0] must be VERB (the only subcommand of GROUP); 0 or WCTL_USAGE. */
int wctl_subcommand(const char *group, int argc, char **argv,
                    const char *verb);
/* A required flag is missing: prints the problem, returns WCTL_USAGE. */
int wctl_missing(const char *cmd, const char *flag);

/* ---- out.c ------------------------------------------------------------ */

void wctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage problem and the usage text to stderr; returns WCTL_USAGE. */
int wctl_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void wctl_usage(FILE *f);
/* Prints obj as one compact JSON line on stdout and drops the reference. */
int wctl_print_json(json_t *obj);
/* Number of UTF-8 characters, or -1 when s is not valid UTF-8. */
long wctl_utf8_len(const char *s);

/* ---- paths.c ---------------------------------------------------------- */

const char *wctl_catalog_path(wctl_t *c);
const char *wctl_sql_dir(wctl_t *c);

/* ---- db.c ------------------------------------------------------------- */

/* Opens c->conn; prints one line and returns WCTL_ERR on failure. */
int wctl_db_connect(wctl_t *c);
void wctl_db_close(wctl_t *c);
/* PQexecParams with text parameters (NULL = SQL NULL). Returns the result
 * (caller PQclear()s it) and sets *ok to 1 on COMMAND_OK/TUPLES_OK. */
PGresult *wctl_q(wctl_t *c, const char *sql, int n,
                 const char *const *params, int *ok);
/* Runs a statement whose result is not needed; prints the error and
 * returns WCTL_ERR on failure. */
int wctl_exec(wctl_t *c, const char *sql, int n, const char *const *params);
int wctl_begin(wctl_t *c);
int wctl_commit(wctl_t *c);
void wctl_rollback(wctl_t *c);
/* Prints "webotctl: WHAT: <server message>" for a failed result. */
void wctl_db_error(const PGresult *res, const char *what);
/* SQLSTATE and constraint name of a failed result ("" when absent). */
const char *wctl_sqlstate(const PGresult *res);
const char *wctl_constraint(const PGresult *res);
/* 1 if the account exists, 0 if not (message printed), -1 on error. */
int wctl_account_exists(wctl_t *c, const char *id);

/* ---- commands (cmd_*.c) ---------------------------------------------- */

int wctl_cmd_migrate(wctl_t *c, int argc, char **argv);
int wctl_cmd_account(wctl_t *c, int argc, char **argv);
int wctl_cmd_user(wctl_t *c, int argc, char **argv);
int wctl_cmd_entitlement(wctl_t *c, int argc, char **argv);
int wctl_cmd_key(wctl_t *c, int argc, char **argv);
int wctl_cmd_job(wctl_t *c, int argc, char **argv);
int wctl_cmd_catalog(wctl_t *c, int argc, char **argv);

#endif
