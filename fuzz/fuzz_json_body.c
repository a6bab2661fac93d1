/* fuzz_json_body.c: a JSON request body through what the dispatcher does
 * with it (mod_webot.c run_route, mod_webot_io.c webot_read_json_body), for
 * every route that takes a body, against that route's own request schema:
 *
 *   input = one byte choosing the route, then the body bytes
 *
 * blank body -> {} ; webot_json_parse (UTF-8, no duplicate keys, no NUL);
 * not an object -> refused; webot_schema_validate; for the job-shaped
 * routes (createJob, preflightJob, checkIntent) also webot_jobcheck against
 * the shipped catalog, as their handlers do; the error body rendered; the
 * Idempotency-Key fingerprint of the body (POST /jobs and the job actions).
 *
 * The schemas come from the real route table (build-fuzz/gen/fuzz_routes.h,
 * made by fuzz/gen_routes.c), so a new route is fuzzed without an edit.
 *
 * Properties: the problem count is what the error lists (capped at 50);
 * an accepted body's canonical form parses back to the same canonical
 * form (the fingerprint is stable); every error renders as JSON. */
#include "fuzz_common.h"
#include "fuzz_routes.h"

#include <apr_lib.h>
#include <unistd.h>

#include "webot_catalog.h"
#include "webot_error.h"
#include "webot_idem.h"
#include "webot_jobcheck.h"
#include "webot_json.h"
#include "webot_route.h"
#include "webot_schema.h"

static const json_t *schemas[FUZZ_NROUTES];
static int body_routes[FUZZ_NROUTES];
static int nbody;
static webot_catalog_t *catalog;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[] = "/tmp/webot-fuzz-catalog-XXXXXX";
    const char *err;
    int i, fd;

    (void)argc;
    (void)argv;
    fuzz_apr_init();
    for (i = 0; i < FUZZ_NROUTES; i++) {
        json_error_t je;
        json_t *j;
        if (!fuzz_routes[i].request_schema
            || fuzz_routes[i].method[0] != 'P'
            || (fuzz_routes[i].flags & WEBOT_RF_RAW_BODY)) {
            continue;
        }
        j = json_loads(fuzz_routes[i].request_schema, 0, &je);
        if (!j) {
            fprintf(stderr, "route %s %s: bad schema: %s\n",
                    fuzz_routes[i].method, fuzz_routes[i].path, je.text);
            abort();
        }
        schemas[i] = webot_json_own(fuzz_root, j);
        body_routes[nbody++] = i;
        /* what the docs show must be what the server accepts */
        if (fuzz_routes[i].request_example) {
            apr_pool_t *p = fuzz_pool();
            webot_error_t *e = webot_error_make(p, "VALIDATION_ERROR", "x");
            const char *why = NULL;
            json_t *x = webot_json_parse(p, fuzz_routes[i].request_example,
                strlen(fuzz_routes[i].request_example), &why);
            if (!x || webot_schema_validate(p, j, x, "", e)) {
                fprintf(stderr, "route %s %s: the request example does not "
                        "pass the request schema: %s\n",
                        fuzz_routes[i].method, fuzz_routes[i].path,
                        x ? webot_json_dump(p, webot_error_json(e, NULL))
                          : why);
                abort();
            }
            apr_pool_destroy(p);
        }
    }
    if (!nbody) {
        fprintf(stderr, "no route takes a JSON body\n");
        abort();
    }
    fd = mkstemp(path);
    if (fd < 0 || write(fd, fuzz_catalog, fuzz_catalog_len)
                  != (ssize_t)fuzz_catalog_len) {
        perror("catalog temp file");
        abort();
    }
    close(fd);
    err = webot_catalog_load(fuzz_root, path, &catalog);
    unlink(path);
    if (err) {
        fprintf(stderr, "catalog: %s\n", err);
        abort();
    }
    return 0;
}

static void render(apr_pool_t *p, const webot_error_t *e)
{
    json_t *j = webot_json_own(p, webot_error_json(e, "fuzz-request"));
    CHECK(j != NULL);
    CHECK(webot_json_dump(p, j) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const fuzz_route_t *rt;
    const json_t *schema;
    const char *buf, *why = NULL;
    json_t *body;
    webot_error_t *e;
    size_t len, i;
    int n, route;

    if (size < 1) {
        return 0;
    }
    route = body_routes[data[0] % nbody];
    rt = &fuzz_routes[route];
    schema = schemas[route];
    p = fuzz_pool();
    buf = fuzz_copy(p, data + 1, size - 1);
    len = size - 1;

    for (i = 0; i < len && apr_isspace(buf[i]); i++)
        ;
    if (i == len) {
        body = webot_json_own(p, json_object());
    }
    else if (!(body = webot_json_parse(p, buf, len, &why))) {
        CHECK(why != NULL);
        e = webot_error_make(p, "BAD_REQUEST",
                             "The request body is not valid JSON: %s.", why);
        render(p, e);
        apr_pool_destroy(p);
        return 0;
    }

    e = webot_error_make(p, "VALIDATION_ERROR",
                         "The request body is not valid.");
    if (!json_is_object(body)) {
        webot_error_add_param(p, e, NULL,
                              "the request body must be a JSON object");
        render(p, e);
        apr_pool_destroy(p);
        return 0;
    }
    n = webot_schema_validate(p, schema, body, "", e);
    CHECK(n >= 0);
    CHECK(json_array_size(e->details) == (size_t)(n < 50 ? n : 50));
    if (n) {
        render(p, e);
    }

    if (strstr(rt->request_schema, "\"service_option\"")) {
        webot_jobcheck_t *jc = webot_jobcheck(p, catalog, schema, body);
        webot_error_t *je;
        CHECK(jc != NULL);
        CHECK(jc->nproblems >= n);
        je = webot_jobcheck_error(p, jc);
        CHECK(!je == (!jc->nproblems && !json_array_size(jc->missing)));
        if (je) {
            render(p, je);
        }
    }

    if (!n) {
        /* the idempotency fingerprint: canonical text, stable under a
         * parse of itself */
        const char *c1 = webot_idem_canonical(p, body), *c2;
        json_t *again;
        unsigned char f1[WEBOT_SHA256_LEN], f2[WEBOT_SHA256_LEN];
        CHECK(c1 != NULL);
        again = webot_json_parse(p, c1, strlen(c1), &why);
        CHECK(again != NULL);
        c2 = webot_idem_canonical(p, again);
        CHECK(c2 && !strcmp(c1, c2));
        webot_idem_fingerprint(p, "POST", rt->path, body, f1);
        webot_idem_fingerprint(p, "POST", rt->path, again, f2);
        CHECK(!memcmp(f1, f2, sizeof(f1)));
    }
    apr_pool_destroy(p);
    return 0;
}
