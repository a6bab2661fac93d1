/* webotctl.c: main, global flags and command dispatch.
 *   webotctl [--db CONNINFO] [--json] [--catalog FILE] [--sql-dir DIR]
 *            COMMAND ... */
#include "webotctl.h"

#include <apr_general.h>
#include <stdlib.h>
#include <string.h>

typedef struct wctl_cmd_t {
    const char *name;
    int (*run)(wctl_t *c, int argc, char **argv);
} wctl_cmd_t;

static const wctl_cmd_t commands[] = {
    { "migrate",     wctl_cmd_migrate },
    { "account",     wctl_cmd_account },
    { "user",        wctl_cmd_user },
    { "entitlement", wctl_cmd_entitlement },
    { "key",         wctl_cmd_key },
    { "job",         wctl_cmd_job },
    { "catalog",     wctl_cmd_catalog },
    { NULL, NULL }
};

/* Global flags before the command; returns the index of the command word,
 * argc when there is none, or -1 after a usage error. */
static int global_flags(wctl_t *c, int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        int rv;
        if (argv[i][0] != '-') {
            return i;
        }
        rv = wctl_global_flag(c, argc, argv, &i);
        if (rv < 0) {
            return -1;
        }
        if (rv == 0) {
            wctl_usage_error("unknown flag %s", argv[i]);
            return -1;
        }
    }
    return argc;
}

static int dispatch(wctl_t *c, int argc, char **argv)
{
    const wctl_cmd_t *cmd;
    int i = global_flags(c, argc, argv);

    if (i < 0) {
        return WCTL_USAGE;
    }
    if (i == argc) {
        return wctl_usage_error("missing command");
    }
    if (strcmp(argv[i], "help") == 0) {
        wctl_usage(stdout);
        return WCTL_OK;
    }
    for (cmd = commands; cmd->name; cmd++) {
        if (strcmp(argv[i], cmd->name) == 0) {
            return cmd->run(c, argc - i - 1, argv + i + 1);
        }
    }
    return wctl_usage_error("unknown command '%s'", argv[i]);
}

int main(int argc, char **argv)
{
    wctl_t ctx;
    int rv;

    if (apr_app_initialize(&argc, (const char *const **)&argv, NULL)
        != APR_SUCCESS) {
        fputs("webotctl: cannot initialise APR\n", stderr);
        return WCTL_ERR;
    }
    atexit(apr_terminate);
    memset(&ctx, 0, sizeof(ctx));
    if (apr_pool_create(&ctx.pool, NULL) != APR_SUCCESS) {
        fputs("webotctl: out of memory\n", stderr);
        return WCTL_ERR;
    }
    ctx.db = getenv("WEBOT_DB");
    if (!ctx.db || !*ctx.db) {
        ctx.db = WCTL_DEFAULT_DB;
    }
    rv = dispatch(&ctx, argc, argv);
    wctl_db_close(&ctx);
    if (fflush(stdout) != 0 && rv == WCTL_OK) {
        fputs("webotctl: cannot write to stdout\n", stderr);
        rv = WCTL_ERR;
    }
    apr_pool_destroy(ctx.pool);
    return rv;
}
