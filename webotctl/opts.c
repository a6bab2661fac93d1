/* opts.c: command-line flags of webotctl ("--flag value", "--flag=value").
 * Global flags are accepted before the command and among its words. */
#include "webotctl.h"

#include <stdlib.h>
#include <string.h>

/* Splits "--name=value"; returns the length of the name part. */
static size_t flag_name_len(const char *w)
{
    const char *eq = strchr(w, '=');
    return eq ? (size_t)(eq - w) : strlen(w);
}

static int name_is(const char *w, size_t len, const char *name)
{
    return strlen(name) == len && strncmp(w, name, len) == 0;
}

/* Value of the flag at argv[*i]: after '=' or the next word. */
static const char *flag_value(int argc, char **argv, int *i, size_t len,
                              const char *name)
{
    const char *w = argv[*i], *v;
    if (w[len] == '=') {
        v = w + len + 1;
    }
    else if (*i + 1 < argc) {
        v = argv[++*i];
    }
    else {
        wctl_usage_error("%s needs a value", name);
        return NULL;
    }
    if (!*v) {
        wctl_usage_error("%s needs a non-empty value", name);
        return NULL;
    }
    return v;
}

int wctl_global_flag(wctl_t *c, int argc, char **argv, int *i)
{
    const char *w = argv[*i];
    size_t len = flag_name_len(w);
    const char **slot = NULL, *name = NULL;

    if (name_is(w, len, "--help") || name_is(w, len, "-h")) {
        wctl_usage(stdout);
        exit(WCTL_OK);
    }
    if (name_is(w, len, "--json")) {
        if (w[len] == '=') {
            wctl_usage_error("--json takes no value");
            return -1;
        }
        c->json = 1;
        return 1;
    }
    if (name_is(w, len, "--db")) {
        slot = &c->db, name = "--db";
    }
    else if (name_is(w, len, "--catalog")) {
        slot = &c->catalog, name = "--catalog";
    }
    else if (name_is(w, len, "--sql-dir")) {
        slot = &c->sql_dir, name = "--sql-dir";
    }
    else {
        return 0;
    }
    *slot = flag_value(argc, argv, i, len, name);
    return *slot ? 1 : -1;
}

static wctl_opt_t *find_opt(wctl_opt_t *opts, const char *w, size_t len)
{
    for (; opts && opts->name; opts++) {
        if (name_is(w, len, opts->name)) {
            return opts;
        }
    }
    return NULL;
}

/* Takes the command flag at argv[*i]; returns 0 or WCTL_USAGE. */
static int command_flag(int argc, char **argv, int *i, wctl_opt_t *opts)
{
    const char *w = argv[*i];
    size_t len = flag_name_len(w);
    wctl_opt_t *o = find_opt(opts, w, len);

    if (!o) {
        return wctl_usage_error("unknown flag %.*s", (int)len, w);
    }
    if (o->value) {
        return wctl_usage_error("%s given twice", o->name);
    }
    if (!o->has_value) {
        if (w[len] == '=') {
            return wctl_usage_error("%s takes no value", o->name);
        }
        o->value = "1";
        return 0;
    }
    o->value = flag_value(argc, argv, i, len, o->name);
    return o->value ? 0 : WCTL_USAGE;
}

int wctl_parse(wctl_t *c, int argc, char **argv, wctl_opt_t *opts,
               const char **pos, int maxpos, int *npos)
{
    int i, rv, only_pos = 0;

    *npos = 0;
    for (i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (!only_pos && strcmp(w, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && w[0] == '-' && w[1] != '\0') {
            rv = wctl_global_flag(c, argc, argv, &i);
            if (rv < 0) {
                return WCTL_USAGE;
            }
            if (rv == 0 && command_flag(argc, argv, &i, opts) != 0) {
                return WCTL_USAGE;
            }
            continue;
        }
        if (*npos >= maxpos) {
            return wctl_usage_error("unexpected argument '%s'", w);
        }
        pos[(*npos)++] = w;
    }
    return 0;
}

const char *wctl_opt(const wctl_opt_t *opts, const char *name)
{
    for (; opts && opts->name; opts++) {
        if (strcmp(opts->name, name) == 0) {
            return opts->value;
        }
    }
    return NULL;
}

int wctl_missing(const char *cmd, const char *flag)
{
    return wctl_usage_error("%s needs %s", cmd, flag);
}

int wctl_subcommand(const char *group, int argc, char **argv,
                    const char *verb)
{
    if (argc < 1) {
        return wctl_usage_error("'%s' needs a subcommand (%s)", group, verb);
    }
    if (strcmp(argv[0], verb) != 0) {
        return wctl_usage_error("unknown subcommand '%s %s'", group,
                                argv[0]);
    }
    return 0;
}
