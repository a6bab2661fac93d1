/* fuzz_catalog.c: the catalog loader (webot_catalog.c) on arbitrary file
 * contents, as WebotCatalogFile or `webotctl catalog check` would read
 * them. The input is written to one temporary file per process and loaded.
 *
 * Properties: a refusal is one line "FILE: $.path: problem" naming the
 * file; an accepted catalog has the GET /catalog body (valid JSON, an
 * object), a quoted strong ETag, families and plans reachable by id, and
 * loading the same bytes again gives the same body. */
#include "fuzz_common.h"

#include <fcntl.h>
#include <unistd.h>

#include "webot_catalog.h"
#include "webot_json.h"

static char path[64];

static void cleanup(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int fd;
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    strcpy(path, "/tmp/webot-fuzz-catalog-XXXXXX");
    if ((fd = mkstemp(path)) < 0) {
        perror("mkstemp");
        abort();
    }
    close(fd);
    atexit(cleanup);
    return 0;
}

static void put(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    size_t off = 0;
    CHECK(fd >= 0);
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        CHECK(n > 0);
        off += (size_t)n;
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    webot_catalog_t *c = NULL, *c2 = NULL;
    const char *err, *why = NULL;
    json_t *body;
    int i;

    put(data, size);
    err = webot_catalog_load(p, path, &c);
    if (err) {
        CHECK(!strncmp(err, path, strlen(path)));
        CHECK(!strchr(err, '\n'));
        apr_pool_destroy(p);
        return 0;
    }
    CHECK(c && c->catalog_json && c->catalog_etag);
    CHECK(c->catalog_json_len == strlen(c->catalog_json));
    CHECK(c->catalog_etag[0] == '"'
          && c->catalog_etag[strlen(c->catalog_etag) - 1] == '"');
    body = webot_json_parse(p, c->catalog_json, c->catalog_json_len, &why);
    CHECK(json_is_object(body));
    for (i = 0; i < c->plans->nelts; i++) {
        const webot_plan_t *pl = APR_ARRAY_IDX(c->plans, i,
                                               const webot_plan_t *);
        CHECK(webot_catalog_plan(c, pl->id) == pl);
    }
    for (i = 0; i < c->families->nelts; i++) {
        const webot_family_t *fam = APR_ARRAY_IDX(c->families, i,
                                                  const webot_family_t *);
        int k;
        for (k = 0; k < fam->options->nelts; k++) {
            const webot_option_t *o = APR_ARRAY_IDX(fam->options, k,
                                                    const webot_option_t *);
            CHECK(webot_catalog_option(c, o->id) == o);
            CHECK(o->family == fam);
        }
    }
    CHECK(!webot_catalog_load(p, path, &c2));
    CHECK(!strcmp(c->catalog_json, c2->catalog_json));
    CHECK(!strcmp(c->catalog_etag, c2->catalog_etag));
    apr_pool_destroy(p);
    return 0;
}
