/* cmd_migrate.c: webotctl migrate
 * Applies sql/NNN_name.sql files in name order, each once, each in its own
 * transaction together with its schema_migrations row. A session advisory
 * lock serialises concurrent runs (scripts/migrate.sh may take the same
 * lock and uses the same table). */
#include "webotctl.h"

#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_lib.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

/* pg_advisory_lock key: "webot" in ASCII, 0x7765626f74. */
#define MIGRATE_LOCK "512970878836"

static const char create_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version text PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

/* NNN_name.sql with name of [A-Za-z0-9_-]. */
static int is_migration(const char *f)
{
    size_t len = strlen(f), i;
    if (len < 9 || strcmp(f + len - 4, ".sql") != 0 || f[3] != '_'
        || !apr_isdigit(f[0]) || !apr_isdigit(f[1]) || !apr_isdigit(f[2])) {
        return 0;
    }
    for (i = 4; i < len - 4; i++) {
        if (!apr_isalnum(f[i]) && f[i] != '_' && f[i] != '-') {
            return 0;
        }
    }
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted migration file names of dir; NULL (message printed) on error. */
static apr_array_header_t *list_migrations(apr_pool_t *p, const char *dir)
{
    apr_array_header_t *files = apr_array_make(p, 8, sizeof(char *));
    DIR *d = opendir(dir);
    struct dirent *e;
    int i;

    if (!d) {
        wctl_err("cannot read the SQL directory %s", dir);
        return NULL;
    }
    while ((e = readdir(d)) != NULL) {
        if (is_migration(e->d_name)) {
            APR_ARRAY_PUSH(files, char *) = apr_pstrdup(p, e->d_name);
        }
    }
    closedir(d);
    qsort(files->elts, (size_t)files->nelts, sizeof(char *), cmp_str);
    for (i = 1; i < files->nelts; i++) {
        const char *a = APR_ARRAY_IDX(files, i - 1, char *);
        const char *b = APR_ARRAY_IDX(files, i, char *);
        if (strncmp(a, b, 3) == 0) {
            wctl_err("%s: %s and %s share a number", dir, a, b);
            return NULL;
        }
    }
    return files;
}

/* Versions recorded in schema_migrations; NULL (message printed). */
static apr_hash_t *applied_versions(wctl_t *c)
{
    apr_hash_t *h = apr_hash_make(c->pool);
    int ok, i;
    PGresult *res = wctl_q(c, "SELECT version FROM schema_migrations", 0,
                           NULL, &ok);
    if (!ok) {
        wctl_db_error(res, "reading schema_migrations");
        PQclear(res);
        return NULL;
    }
    for (i = 0; i < PQntuples(res); i++) {
        const char *v = apr_pstrdup(c->pool, PQgetvalue(res, i, 0));
        apr_hash_set(h, v, APR_HASH_KEY_STRING, v);
    }
    PQclear(res);
    return h;
}

/* Reads a whole file as a NUL-terminated string; NULL on error. */
static char *read_file(apr_pool_t *p, const char *path)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t got = 0;
    char *buf = NULL;

    if (apr_file_open(&f, path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, p)
        != APR_SUCCESS) {
        wctl_err("cannot open %s", path);
        return NULL;
    }
    if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) == APR_SUCCESS) {
        buf = apr_palloc(p, (apr_size_t)fi.size + 1);
        if (fi.size > 0 && apr_file_read_full(f, buf, (apr_size_t)fi.size,
                                              &got) != APR_SUCCESS) {
            buf = NULL;
        }
    }
    apr_file_close(f);
    if (!buf) {
        wctl_err("cannot read %s", path);
        return NULL;
    }
    buf[got] = '\0';
    return buf;
}

/* Runs the script and records the version, in one transaction. The script
 * is a file's content, sent as is (several statements: simple protocol). */
static int apply_one(wctl_t *c, const char *path, const char *version)
{
    const char *params[1] = { version };
    char *sql = read_file(c->pool, path);
    PGresult *res;
    int ok;

    if (!sql || wctl_begin(c) != WCTL_OK) {
        return WCTL_ERR;
    }
    res = PQexec(c->conn, sql);
    ok = res && (PQresultStatus(res) == PGRES_COMMAND_OK
                 || PQresultStatus(res) == PGRES_TUPLES_OK
                 || PQresultStatus(res) == PGRES_EMPTY_QUERY);
    if (!ok) {
        wctl_db_error(res, apr_psprintf(c->pool, "migration %s failed",
                                        version));
    }
    PQclear(res);
    if (!ok || wctl_exec(c, "INSERT INTO schema_migrations (version)"
                         " VALUES ($1)", 1, params) != WCTL_OK
        || wctl_commit(c) != WCTL_OK) {
        wctl_rollback(c);
        return WCTL_ERR;
    }
    return WCTL_OK;
}

/* Applies what is missing; fills `done` with the versions applied. */
static int apply_missing(wctl_t *c, const char *dir,
                         apr_array_header_t *files, apr_hash_t *applied,
                         apr_array_header_t *done)
{
    int i;
    for (i = 0; i < files->nelts; i++) {
        const char *f = APR_ARRAY_IDX(files, i, char *);
        const char *version = apr_pstrndup(c->pool, f, strlen(f) - 4);
        if (apr_hash_get(applied, version, APR_HASH_KEY_STRING)) {
            continue;
        }
        if (apply_one(c, apr_pstrcat(c->pool, dir, "/", f, NULL), version)
            != WCTL_OK) {
            return WCTL_ERR;
        }
        APR_ARRAY_PUSH(done, const char *) = version;
        if (!c->json) {
            printf("applied %s\n", version);
        }
    }
    return WCTL_OK;
}

static int report(wctl_t *c, apr_array_header_t *done, int total)
{
    json_t *list;
    int i;

    if (!c->json) {
        if (done->nelts == 0) {
            printf("up to date (%d migration%s applied)\n", total,
                   total == 1 ? "" : "s");
        }
        return WCTL_OK;
    }
    list = json_array();
    for (i = 0; i < done->nelts; i++) {
        json_array_append_new(list,
            json_string(APR_ARRAY_IDX(done, i, const char *)));
    }
    return wctl_print_json(json_pack("{s:o,s:i}", "applied", list,
                                     "applied_before", total - done->nelts));
}

int wctl_cmd_migrate(wctl_t *c, int argc, char **argv)
{
    const char *pos[1], *dir;
    apr_array_header_t *files, *done;
    apr_hash_t *applied;
    int npos, rv;

    if ((rv = wctl_parse(c, argc, argv, NULL, pos, 0, &npos)) != 0) {
        return rv;
    }
    dir = wctl_sql_dir(c);
    if (!(files = list_migrations(c->pool, dir))
        || wctl_db_connect(c) != WCTL_OK
        || wctl_exec(c, "SET client_min_messages = warning", 0, NULL)
        || wctl_exec(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", 0, NULL)
        || wctl_exec(c, create_sql, 0, NULL)
        || !(applied = applied_versions(c))) {
        return WCTL_ERR;
    }
    done = apr_array_make(c->pool, 4, sizeof(const char *));
    rv = apply_missing(c, dir, files, applied, done);
    if (rv == WCTL_OK) {
        rv = report(c, done, (int)apr_hash_count(applied) + done->nelts);
    }
    wctl_exec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", 0, NULL);
    return rv;
}
