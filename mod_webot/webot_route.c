/* webot_route.c: matching a request path against the route table. */
#include "webot_route.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <string.h>

const char *const webot_mount_handler[WEBOT_MOUNT_COUNT] = {
    "webot-api", "webot-stripe-webhook", "webot-checkout" };
const char *const webot_mount_default[WEBOT_MOUNT_COUNT] = {
    "/api/v1", "/api/stripe/webhook", "/api/checkout/tier" };

/* Compares one pattern against a path; returns 1 on match and the {id}
 * segment in *id. */
static int path_match(const char *pat, const char *path, const char **idp,
                      apr_size_t *idlen)
{
    while (*pat && *path) {
        if (!strncmp(pat, "{id}", 4)) {
            const char *start = path;
            while (*path && *path != '/') {
                if (!(apr_isalnum(*path) || *path == '_' || *path == '-')) {
                    return 0;
                }
                path++;
            }
            if (path == start || path - start > 64) {
                return 0;
            }
            *idp = start;
            *idlen = (apr_size_t)(path - start);
            pat += 4;
            continue;
        }
        if (*pat != *path) {
            return 0;
        }
        pat++;
        path++;
    }
    return !*pat && !*path;
}

webot_match_e webot_route_match(apr_pool_t *p, const webot_route_t *table,
                                int n, webot_mount_e mount,
                                const char *method, const char *path,
                                const webot_route_t **route,
                                const char **id, const char **allow)
{
    const char *want = strcmp(method, "HEAD") ? method : "GET";
    const char *methods = NULL;
    int i;

    *route = NULL;
    *id = NULL;
    *allow = NULL;
    if (!path || !*path) {
        path = "/";
    }
    for (i = 0; i < n; i++) {
        const webot_route_t *rt = &table[i];
        const char *idp = NULL;
        apr_size_t idlen = 0;
        if (rt->mount != mount || !path_match(rt->path, path, &idp, &idlen)) {
            continue;
        }
        if (!strcmp(rt->method, want)) {
            *route = rt;
            *id = idp ? apr_pstrmemdup(p, idp, idlen) : NULL;
            return WEBOT_MATCH_OK;
        }
        if (!methods || !strstr(methods, rt->method)) {
            methods = methods ? apr_pstrcat(p, methods, ", ", rt->method, NULL)
                              : rt->method;
            if (!strcmp(rt->method, "GET")) {
                methods = apr_pstrcat(p, methods, ", HEAD", NULL);
            }
        }
    }
    if (methods) {
        *allow = methods;
        return WEBOT_MATCH_METHOD;
    }
    return WEBOT_MATCH_NOT_FOUND;
}

const char *webot_route_full_path(apr_pool_t *p, const webot_route_t *rt)
{
    const char *base = webot_mount_default[rt->mount];
    if (!strcmp(rt->path, "/")) {
        return base;
    }
    return apr_pstrcat(p, base, rt->path, NULL);
}
