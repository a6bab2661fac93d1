/* paths.c: default locations of the catalog file and the SQL directory.
 * Order: flag, environment, next to the executable's repository
 * (<dir of /proc/self/exe>/../...), installed location. For the SQL
 * directory also <exe dir>/../share/webot/sql (make install PREFIX=...). */
#include "webotctl.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WCTL_CATALOG_INSTALLED "/etc/webot/catalog.json"
#define WCTL_SQL_INSTALLED     "/usr/local/share/webot/sql"

/* Directory of the running executable, or NULL. */
static const char *exe_dir(apr_pool_t *p)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    char *slash;

    if (n <= 0) {
        return NULL;
    }
    buf[n] = '\0';
    slash = strrchr(buf, '/');
    if (!slash) {
        return NULL;
    }
    *slash = '\0';
    return apr_pstrdup(p, buf);
}

/* <exe dir>/../REL (resolved) when it exists and has the wanted type. */
static const char *beside_exe(apr_pool_t *p, const char *rel, int want_dir)
{
    const char *dir = exe_dir(p), *out = NULL;
    char *real;
    struct stat st;

    if (!dir) {
        return NULL;
    }
    real = realpath(apr_pstrcat(p, dir, "/../", rel, NULL), NULL);
    if (real && stat(real, &st) == 0
        && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode))) {
        out = apr_pstrdup(p, real);
    }
    free(real);
    return out;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

const char *wctl_catalog_path(wctl_t *c)
{
    if (!c->catalog) {
        c->catalog = env_nonempty("WEBOT_CATALOG");
    }
    if (!c->catalog) {
        c->catalog = beside_exe(c->pool, "conf/catalog.json", 0);
    }
    if (!c->catalog) {
        c->catalog = WCTL_CATALOG_INSTALLED;
    }
    return c->catalog;
}

const char *wctl_sql_dir(wctl_t *c)
{
    if (!c->sql_dir) {
        c->sql_dir = env_nonempty("WEBOT_SQL_DIR");
    }
    if (!c->sql_dir) {
        c->sql_dir = beside_exe(c->pool, "sql", 1);
    }
    if (!c->sql_dir) {          /* installed as PREFIX/bin/webotctl */
        c->sql_dir = beside_exe(c->pool, "share/webot/sql", 1);
    }
    if (!c->sql_dir) {
        c->sql_dir = WCTL_SQL_INSTALLED;
    }
    return c->sql_dir;
}
