/* fuzz_route_match.c: webot_route_match, the dispatcher's first look at a
 * request line, against the real route table (every row of
 * mod_webot/routes_*.inc, via build-fuzz/gen/fuzz_routes.h) plus a small
 * local table with the shapes the real one may not have yet (an {id} in
 * the middle, two methods on one path, a root path on another mount).
 *
 *   input = byte 0: mount; byte 1: method (one of the list, or when >= 8
 *           the text up to the first NUL after byte 2); then the path
 *
 * Properties: OK names a row of the asked mount whose method is the asked
 * one (HEAD finds GET) and whose pattern, with {id} replaced by the id
 * found, is the path; the id is 1..64 of [A-Za-z0-9_-]; METHOD lists only
 * methods of rows whose pattern matches (with HEAD after GET), never the
 * asked one; NOT_FOUND leaves everything NULL. */
#include "fuzz_common.h"
#include "fuzz_routes.h"

#include <apr_lib.h>

#include "webot_route.h"

static webot_route_t table[FUZZ_NROUTES + 8];
static int ntable;

static const struct { const char *method; webot_mount_e mount;
                      const char *path; } local[] = {
    { "GET",    WEBOT_MOUNT_API,      "/things/{id}/parts" },
    { "DELETE", WEBOT_MOUNT_API,      "/things/{id}/parts" },
    { "PUT",    WEBOT_MOUNT_API,      "/things/{id}" },
    { "POST",   WEBOT_MOUNT_WEBHOOK,  "/" },
    { "GET",    WEBOT_MOUNT_CHECKOUT, "/{id}" },
};

static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get" };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    size_t i;
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    for (i = 0; i < FUZZ_NROUTES; i++) {
        table[ntable].method = fuzz_routes[i].method;
        table[ntable].mount = (webot_mount_e)fuzz_routes[i].mount;
        table[ntable].path = fuzz_routes[i].path;
        table[ntable].operation_id = fuzz_routes[i].operation_id;
        ntable++;
    }
    for (i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        table[ntable].method = local[i].method;
        table[ntable].mount = local[i].mount;
        table[ntable].path = local[i].path;
        table[ntable].operation_id = "local";
        ntable++;
    }
    return 0;
}

static int id_ok(const char *id)
{
    size_t n = strlen(id), i;
    for (i = 0; i < n; i++) {
        if (!apr_isalnum(id[i]) && id[i] != '_' && id[i] != '-') {
            return 0;
        }
    }
    return n >= 1 && n <= 64;
}

/* The pattern with {id} replaced by id. */
static const char *fill(apr_pool_t *p, const char *pat, const char *id)
{
    const char *at = strstr(pat, "{id}");
    if (!at) {
        return pat;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, pat, (apr_size_t)(at - pat)),
                       id ? id : "", at + 4, NULL);
}

/* Does the pattern match path (a reference matcher: ids as above)? */
static int matches(apr_pool_t *p, const char *pat, const char *path)
{
    const char *at = strstr(pat, "{id}");
    apr_size_t pre, post, plen = strlen(path);
    const char *id;
    if (!at) {
        return !strcmp(pat, path);
    }
    pre = (apr_size_t)(at - pat);
    post = strlen(at + 4);
    if (plen < pre + post + 1 || strncmp(pat, path, pre)
        || strcmp(at + 4, path + plen - post)) {
        return 0;
    }
    id = apr_pstrmemdup(p, path + pre, plen - pre - post);
    return id_ok(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const webot_route_t *rt = NULL;
    const char *id = NULL, *allow = NULL, *method, *path, *want;
    webot_mount_e mount;
    webot_match_e rc;
    const char *f[2];
    int i;

    if (size < 2) {
        return 0;
    }
    p = fuzz_pool();
    mount = (webot_mount_e)(data[0] % WEBOT_MOUNT_COUNT);
    if (data[1] < 8) {
        method = methods[data[1]];
        path = fuzz_copy(p, data + 2, size - 2);
    }
    else {
        fuzz_fields(p, data + 2, size - 2, f, 2);
        method = f[0];
        path = f[1];
    }

    rc = webot_route_match(p, table, ntable, mount, method, path, &rt, &id,
                           &allow);
    want = strcmp(method, "HEAD") ? method : "GET";
    if (!*path) {
        path = "/";
    }
    switch (rc) {
    case WEBOT_MATCH_OK:
        CHECK(rt != NULL && allow == NULL);
        CHECK(rt->mount == mount);
        CHECK(!strcmp(rt->method, want));
        CHECK(!id == !strstr(rt->path, "{id}"));
        CHECK(!id || id_ok(id));
        CHECK(!strcmp(fill(p, rt->path, id), path));
        /* the first row that matches wins */
        for (i = 0; &table[i] != rt; i++) {
            CHECK(table[i].mount != mount || strcmp(table[i].method, want)
                  || !matches(p, table[i].path, path));
        }
        break;
    case WEBOT_MATCH_METHOD:
        CHECK(rt == NULL && id == NULL && allow && *allow);
        for (i = 0; i < ntable; i++) {
            if (table[i].mount == mount && matches(p, table[i].path, path)) {
                CHECK(strcmp(table[i].method, want));
                CHECK(strstr(allow, table[i].method) != NULL);
            }
        }
        CHECK(!strstr(allow, "GET") == !strstr(allow, "HEAD"));
        break;
    case WEBOT_MATCH_NOT_FOUND:
        CHECK(rt == NULL && id == NULL && allow == NULL);
        for (i = 0; i < ntable; i++) {
            CHECK(table[i].mount != mount
                  || !matches(p, table[i].path, path));
        }
        break;
    default:
        CHECK(!"unknown match result");
    }
    apr_pool_destroy(p);
    return 0;
}
