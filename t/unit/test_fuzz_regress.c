/* test_fuzz_regress.c: every input a fuzz harness (fuzz/fuzz_*.c) found
 * failing, fed to the same core functions, with what must hold. The
 * inputs also live in fuzz/corpus/ (replayed by each fuzz run) and the
 * server-level effect of the request-borne ones is checked by
 * t/93_fuzz_regress.t. docs/fuzzing.md
 * lists the findings. Prints TAP and exits non-zero on failure. */
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "webot_catalog.h"
#include "webot_error.h"
#include "webot_json.h"
#include "webot_mcp.h"

#include "tap.h"


/* Is s[0..len) valid UTF-8 (what jansson needs to make it a string)? */
static int utf8_ok(const char *s)
{
    json_t *j = json_string(s);
    int r = j != NULL;
    json_decref(j);
    return r;
}

/* The body the dispatcher answers for a body that is not JSON
 * (mod_webot_io.c webot_read_json_body + webot_send_error). */
static int error_body_ok(apr_pool_t *p, const char *why)
{
    webot_error_t *e = webot_error_make(p, "BAD_REQUEST",
                                        "The request body is not valid "
                                        "JSON: %s.", why);
    json_t *j = webot_json_own(p, webot_error_json(e, "req-1"));
    return j && json_is_object(json_object_get(j, "error"))
           && json_is_string(json_object_get(json_object_get(j, "error"),
                                             "message"));
}

/* fuzz_json_body, fuzz_mcp: a syntax error right after an escape, where
 * the next byte starts a multi-byte character. jansson's error text quotes
 * the token up to that byte: the reason was not UTF-8, the error body
 * could not be built (the server answered "null"). */
static const struct { const char *name; const char *in; } split[] = {
    { "2-byte character after \\u0", "{\"t\":\"\\u0\xd0\x9a\"}" },
    { "3-byte character after \\u", "{\"title\":\"\\u\xe2\x9c\x93\"}" },
    { "4-byte character after \\u00", "[\"\\u00\xf0\x9f\x98\x80\"]" },
    { "2-byte character after a bad escape", "{\"a\":\"\\\xc3\xa9\"}" },
};

static void test_json_reason(apr_pool_t *p)
{
    size_t i;
    for (i = 0; i < sizeof(split) / sizeof(split[0]); i++) {
        const char *why = NULL;
        json_t *j = webot_json_parse(p, split[i].in, strlen(split[i].in),
                                     &why);
        ok(!j && why, "webot_json_parse refuses: %s", split[i].name);
        ok(why && utf8_ok(why), "  its reason is UTF-8");
        ok(why && error_body_ok(p, why), "  and the error body is built");
    }
}

static void test_mcp_reason(apr_pool_t *p)
{
    size_t i;
    for (i = 0; i < sizeof(split) / sizeof(split[0]); i++) {
        webot_mcp_msg_t *msgs;
        const char *why = NULL;
        int n, batch, rc;
        json_t *ans;
        rc = webot_mcp_parse(p, split[i].in, strlen(split[i].in), &msgs, &n,
                             &batch, &why);
        ok(rc == WEBOT_RPC_PARSE_ERROR && why,
           "webot_mcp_parse: -32700 for %s", split[i].name);
        /* the reason quotes the token; webot_mcp_error makes it printable */
        ans = webot_mcp_error(NULL, rc, why ? why : "", NULL);
        ok(ans && json_is_string(json_object_get(json_object_get(ans,
               "error"), "message")),
           "  the JSON-RPC error answer is built, with a message");
        json_decref(ans);
    }
}

/* fuzz_catalog: a catalog key with a newline ("qua\nty_signals") went
 * into the error message as is: a configtest line broken in two; later the
 * same with the file's own text that jansson quotes in a syntax error. */
static void test_catalog_one_line(apr_pool_t *p)
{
    static const char *const bodies[] = {
        "{\"service_families\":[],\"plans\":[],\"a\\nb\":1}",
        "{\"service_families\":[{\"id\":\"x\\r\\u001b[31m\"}],"
        "\"plans\":[]}",
        /* ... and a JSON syntax error: jansson quotes the text near it,
         * raw newline included (found by the 60 s CI run) */
        "{\"p\\u\n    {\n      \"id\": \"both_team\",\n",
        "{\"a\":\x01\x02}",
    };
    char path[] = "/tmp/webot-regress-XXXXXX";
    size_t i;
    int fd = mkstemp(path);
    ok(fd >= 0, "a temporary catalog file");
    for (i = 0; fd >= 0 && i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        webot_catalog_t *c = NULL;
        const char *err;
        FILE *f = fopen(path, "w");
        fputs(bodies[i], f);
        fclose(f);
        err = webot_catalog_load(p, path, &c);
        ok(err != NULL, "catalog %lu refused", (unsigned long)i + 1);
        ok(err && !strpbrk(err, "\r\n\033"),
           "  in one line without control characters: %s", err ? err : "");
    }
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
}

int main(void)
{
    apr_pool_t *p;
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_json_reason(p);
    test_mcp_reason(p);
    test_catalog_one_line(p);
    apr_pool_destroy(p);
    apr_terminate();
    printf("1..%d\n", ntests);
    return nfailed ? 1 : 0;
}
