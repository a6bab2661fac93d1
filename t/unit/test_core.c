/* test_core.c: C unit tests of the httpd-free core (build/libwebotcore.a):
 * webot_util, webot_json, webot_schema, webot_route_match, webot_catalog,
 * webot_jobcheck, webot_error and webot_openapi. Prints TAP ("ok N - ...")
 * and exits non-zero when a test fails. Run from the repository top (make
 * unit does), or set WEBOT_TOP so that conf/catalog.json is found. */
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_time.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "webot_util.h"
#include "webot_json.h"
#include "webot_error.h"
#include "webot_schema.h"
#include "webot_route.h"
#include "webot_catalog.h"
#include "webot_jobcheck.h"
#include "webot_openapi.h"
#include "webot_batchq.h"

#include "tap.h"

static apr_pool_t *P;           /* one pool for everything */

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static int is_str(const char *got, const char *want, const char *name)
{
    int c = (got == NULL && want == NULL)
            || (got && want && !strcmp(got, want));
    if (!ok(c, "%s", name)) {
        diag("  got:  %s", got ? got : "(null)");
        diag("  want: %s", want ? want : "(null)");
    }
    return c;
}

static int has_str(const char *got, const char *needle, const char *name)
{
    int c = got && strstr(got, needle);
    if (!ok(c, "%s", name)) {
        diag("  got:  %s", got ? got : "(null)");
        diag("  want it to contain: %s", needle);
    }
    return c;
}

static int all_in(const char *s, const char *alphabet)
{
    for (; *s; s++) {
        if (!strchr(alphabet, *s)) {
            return 0;
        }
    }
    return 1;
}

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) {
        diag("bad JSON in the test itself: %s: %s", text, je.text);
        abort();
    }
    return webot_json_own(P, j);
}

/* ====================================================================== */
/* webot_util                                                              */

static void test_ids_tokens(void)
{
    const char *a = webot_id_new(P, "job_"), *b = webot_id_new(P, "job_");
    apr_hash_t *seen = apr_hash_make(P);
    int i, dup = 0, alpha = 1, len = 1;
    const char *t;

    ok(a && !strncmp(a, "job_", 4), "id has its prefix");
    ok(a && strlen(a) == 4 + 26, "id is prefix + 26 characters");
    ok(a && all_in(a + 4, "abcdefghijklmnopqrstuvwxyz234567"),
       "id body is lower-case base32");
    ok(a && b && strcmp(a, b), "two ids differ");
    for (i = 0; i < 2000; i++) {
        const char *x = webot_id_new(P, "acct_");
        if (apr_hash_get(seen, x, APR_HASH_KEY_STRING)) {
            dup++;
        }
        apr_hash_set(seen, x, APR_HASH_KEY_STRING, x);
    }
    ok(dup == 0, "2000 ids are all distinct");

    t = webot_token_new(P, "wbt_", 192);
    ok(t && !strncmp(t, "wbt_", 4), "token has its prefix");
    /* 62^33 >= 2^192 > 62^32 */
    ok(t && strlen(t) == 4 + 33, "192-bit token has 33 base62 characters "
       "(got %lu)", t ? (unsigned long)strlen(t) - 4 : 0UL);
    for (i = 0; i < 200; i++) {
        t = webot_token_new(P, "", 128);
        if (!all_in(t, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                    "qrstuvwxyz")) {
            alpha = 0;
        }
        if (strlen(t) != 22) {      /* 62^22 >= 2^128 */
            len = 0;
        }
    }
    ok(alpha, "tokens use the base62 alphabet only");
    ok(len, "128-bit tokens have 22 characters");
    ok(strcmp(webot_token_new(P, "x", 128), webot_token_new(P, "x", 128)),
       "two tokens differ");
    is_str(webot_key_display(P, "wbt_abcdefghijklmnopqrstuvwxyz1a2b"),
           "wbt_\xE2\x80\xA6" "1a2b", "key display is wbt_… + last four");
}

static void test_hashes(void)
{
    unsigned char sum[WEBOT_SHA256_LEN];
    webot_sha256("abc", 3, sum);
    is_str(webot_hex(P, sum, sizeof(sum)),
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256(\"abc\")");
    /* RFC 4231 test case 2 */
    ok(webot_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, sum)
       == 0, "hmac returns 0");
    is_str(webot_hex(P, sum, sizeof(sum)),
           "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "hmac-sha256 RFC 4231 case 2");
    ok(webot_ct_equal("abcd", 4, "abcd", 4), "ct_equal: equal");
    ok(!webot_ct_equal("abcd", 4, "abce", 4), "ct_equal: last byte differs");
    ok(!webot_ct_equal("abcd", 4, "abc", 3), "ct_equal: lengths differ");
    ok(webot_ct_equal("", 0, "", 0), "ct_equal: empty buffers");
}

static void test_hex_b64(void)
{
    unsigned char buf[64], *out = NULL;
    unsigned char all[256];
    long n;
    int i, rt_ok = 1;

    for (i = 0; i < 256; i++) {
        all[i] = (unsigned char)i;
    }
    is_str(webot_hex(P, (const unsigned char *)"\x00\x01\xab\xff", 4),
           "0001abff", "hex of bytes");
    n = webot_unhex("0001abff", buf, sizeof(buf));
    ok(n == 4 && !memcmp(buf, "\x00\x01\xab\xff", 4), "unhex round trip");
    n = webot_unhex("0001ABFF", buf, sizeof(buf));
    ok(n == 4 && buf[2] == 0xab, "unhex accepts upper case");
    ok(webot_unhex("abc", buf, sizeof(buf)) == -1, "unhex rejects odd length");
    ok(webot_unhex("zz", buf, sizeof(buf)) == -1, "unhex rejects non-hex");
    ok(webot_unhex("0g", buf, sizeof(buf)) == -1, "unhex rejects 'g'");
    ok(webot_unhex("000000", buf, 2) == -1, "unhex rejects more than outmax");
    ok(webot_unhex("", buf, sizeof(buf)) == 0, "unhex of empty is 0 bytes");

    is_str(webot_b64url(P, (const unsigned char *)"\xfb\xff", 2), "-_8",
           "b64url uses - and _ and no padding");
    is_str(webot_b64url(P, (const unsigned char *)"foobar", 6), "Zm9vYmFy",
           "b64url(\"foobar\")");
    is_str(webot_b64url(P, (const unsigned char *)"f", 1), "Zg",
           "b64url(\"f\") without padding");
    for (i = 0; i <= 40; i++) {
        const char *e = webot_b64url(P, all + 200, (apr_size_t)i);
        n = webot_unb64url(P, e, &out);
        if (n != i || (i && memcmp(out, all + 200, (size_t)i))) {
            rt_ok = 0;
            diag("b64url round trip failed at length %d (%s)", i, e);
        }
    }
    ok(rt_ok, "b64url round trips for lengths 0..40");
    ok(webot_unb64url(P, "Zm9vYmFy", &out) == 6 && !memcmp(out, "foobar", 6),
       "unb64url(\"Zm9vYmFy\")");
    ok(webot_unb64url(P, "Zg==", &out) == -1, "unb64url rejects padding");
    ok(webot_unb64url(P, "ab+/", &out) == -1,
       "unb64url rejects the standard alphabet's + and /");
    ok(webot_unb64url(P, "Zm9vY", &out) == -1,
       "unb64url rejects a length of 4n+1");
    ok(webot_unb64url(P, "Zh", &out) == -1,
       "unb64url rejects non-canonical trailing bits");
    ok(webot_unb64url(P, "Zm 9", &out) == -1, "unb64url rejects a space");
    ok(webot_unb64url(P, "", &out) == 0, "unb64url of empty is 0 bytes");
}

static void test_time(void)
{
    apr_time_t t = 0;
    static const char *const bad[] = {
        "2023-02-29T00:00:00Z",             /* not a leap year */
        "2026-02-30T00:00:00Z",             /* Feb 30 */
        "2026-04-31T00:00:00Z",             /* April has 30 days */
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-32T00:00:00Z",
        "2026-01-31T24:00:00Z",
        "2026-01-31T12:60:00Z",
        "2026-01-31T12:00:61Z",
        "2026-01-31T12:00:00",              /* no zone */
        "2026-01-31 12:00:00Z",             /* space instead of T */
        "2026-01-31T12:00:00Zjunk",
        "2026-01-31T12:00:00+0200",         /* offset without colon */
        "2026-01-31T12:00:00+24:00",
        "2026-01-31T12:00:00.Z",            /* empty fraction */
        "2026-1-31T12:00:00Z",
        "26-01-31T12:00:00Z",
        "1969-12-31T23:59:59Z",
        "",
        "now",
        NULL };
    const char *const *b;
    int bad_ok = 1;

    is_str(webot_time_rfc3339(P, 0, 0), "1970-01-01T00:00:00Z",
           "format the epoch");
    is_str(webot_time_rfc3339(P, apr_time_from_sec(1769860800) + 123456, 0),
           "2026-01-31T12:00:00Z", "format whole seconds");
    is_str(webot_time_rfc3339(P, apr_time_from_sec(1769860800) + 123456, 1),
           "2026-01-31T12:00:00.123456Z", "format with microseconds");

    ok(webot_time_parse("2026-01-31T12:00:00Z", &t) == 0
       && t == apr_time_from_sec(1769860800), "parse Z");
    ok(webot_time_parse("2026-01-31t12:00:00z", &t) == 0
       && t == apr_time_from_sec(1769860800), "parse lower-case t and z");
    ok(webot_time_parse("2026-01-31T14:00:00+02:00", &t) == 0
       && t == apr_time_from_sec(1769860800), "parse a +02:00 offset");
    ok(webot_time_parse("2026-01-31T06:30:00-05:30", &t) == 0
       && t == apr_time_from_sec(1769860800), "parse a -05:30 offset");
    ok(webot_time_parse("2026-02-01T00:30:00+12:30", &t) == 0
       && t == apr_time_from_sec(1769860800),
       "parse an offset that crosses the day");
    ok(webot_time_parse("2026-01-31T12:00:00.5Z", &t) == 0
       && t == apr_time_from_sec(1769860800) + 500000, "parse .5 seconds");
    ok(webot_time_parse("2026-01-31T12:00:00.123456789Z", &t) == 0
       && t == apr_time_from_sec(1769860800) + 123456,
       "parse nanoseconds (truncated to microseconds)");
    ok(webot_time_parse("2024-02-29T00:00:00Z", &t) == 0,
       "parse Feb 29 of a leap year");
    ok(webot_time_parse("2000-02-29T00:00:00Z", &t) == 0,
       "parse Feb 29 of 2000 (divisible by 400)");
    ok(webot_time_parse("2100-02-29T00:00:00Z", &t) != 0,
       "reject Feb 29 of 2100 (not a leap year)");
    ok(webot_time_parse("2016-12-31T23:59:60Z", &t) == 0,
       "accept a leap second");
    for (b = bad; *b; b++) {
        if (webot_time_parse(*b, &t) == 0) {
            bad_ok = 0;
            diag("accepted: \"%s\"", *b);
        }
    }
    ok(bad_ok, "reject %d malformed or impossible times",
       (int)(b - bad));
    {
        apr_time_t now = apr_time_now(), back = 0;
        now -= now % APR_USEC_PER_SEC;
        ok(webot_time_parse(webot_time_rfc3339(P, now, 0), &back) == 0
           && back == now, "format then parse gives the same time");
        now += 654321;
        ok(webot_time_parse(webot_time_rfc3339(P, now, 1), &back) == 0
           && back == now, "the same with microseconds");
    }
}

static void test_parse_int(void)
{
    long long v = 0;
    ok(webot_parse_int("42", 0, 100, &v) == 0 && v == 42, "parse 42");
    ok(webot_parse_int("0", 0, 100, &v) == 0 && v == 0, "parse 0");
    ok(webot_parse_int("-5", -10, 10, &v) == 0 && v == -5, "parse -5");
    ok(webot_parse_int("100", 1, 100, &v) == 0 && v == 100, "max is inclusive");
    ok(webot_parse_int("1", 1, 100, &v) == 0 && v == 1, "min is inclusive");
    v = 7;
    ok(webot_parse_int("101", 1, 100, &v) != 0, "reject above max");
    ok(webot_parse_int("0", 1, 100, &v) != 0, "reject below min");
    ok(webot_parse_int("-1", 0, 100, &v) != 0, "reject negative below min");
    ok(webot_parse_int("12abc", 0, 100, &v) != 0, "reject trailing garbage");
    ok(webot_parse_int("12 ", 0, 100, &v) != 0, "reject trailing space");
    ok(webot_parse_int(" 12", 0, 100, &v) != 0, "reject leading space");
    ok(webot_parse_int("+12", 0, 100, &v) != 0, "reject a plus sign");
    ok(webot_parse_int("", 0, 100, &v) != 0, "reject empty");
    ok(webot_parse_int(NULL, 0, 100, &v) != 0, "reject NULL");
    ok(webot_parse_int("-", -10, 100, &v) != 0, "reject a lone minus");
    ok(webot_parse_int("1.5", 0, 100, &v) != 0, "reject a fraction");
    ok(webot_parse_int("0x10", 0, 100, &v) != 0, "reject hex");
    ok(webot_parse_int("99999999999999999999", 0, 0x7fffffffffffffffLL, &v)
       != 0, "reject overflow");
    ok(v == 7, "a rejected value leaves *out alone");
}

static void test_token_syntax(void)
{
    char buf[200];
    ok(webot_request_id_valid("a"), "request id of 1 character");
    ok(webot_request_id_valid("Az09._:-"), "request id: every allowed class");
    ok(!webot_request_id_valid(""), "request id: empty rejected");
    ok(!webot_request_id_valid(NULL), "request id: NULL rejected");
    memset(buf, 'x', 128);
    buf[128] = '\0';
    ok(webot_request_id_valid(buf), "request id of 128 characters");
    buf[128] = 'x';
    buf[129] = '\0';
    ok(!webot_request_id_valid(buf), "request id of 129 characters rejected");
    ok(!webot_request_id_valid("a b"), "request id with a space rejected");
    ok(!webot_request_id_valid("a\tb"), "request id with a tab rejected");
    ok(!webot_request_id_valid("a\r\nb"), "request id with CR LF rejected");
    ok(!webot_request_id_valid("a\x01"), "request id with a control rejected");
    ok(!webot_request_id_valid("r\xC3\xA9q"), "request id with UTF-8 rejected");
    ok(!webot_request_id_valid("a/b"), "request id with / rejected");
    ok(!webot_request_id_valid("<script>"), "request id with <> rejected");

    ok(webot_idempotency_key_valid("0123456789abcdef"),
       "idempotency key of 16 characters");
    ok(!webot_idempotency_key_valid("0123456789abcde"),
       "idempotency key of 15 characters rejected");
    memset(buf, 'k', 128);
    buf[128] = '\0';
    ok(webot_idempotency_key_valid(buf), "idempotency key of 128 characters");
    buf[128] = 'k';
    buf[129] = '\0';
    ok(!webot_idempotency_key_valid(buf),
       "idempotency key of 129 characters rejected");
    ok(!webot_idempotency_key_valid("0123456789abcdef "),
       "idempotency key with a space rejected");
    ok(!webot_idempotency_key_valid(NULL), "idempotency key NULL rejected");
}

/* ====================================================================== */
/* webot_json and webot_error                                               */

static void test_json_parse(void)
{
    const char *why = NULL;
    json_t *j;

    j = webot_json_parse(P, "{\"a\":1}", 7, &why);
    ok(json_is_object(j), "parse an object");
    why = NULL;
    ok(!webot_json_parse(P, "{\"a\":1,\"a\":2}", 13, &why) && why,
       "duplicate keys are rejected");
    has_str(why, "duplicate", "the reason names the duplicate");
    why = NULL;
    ok(!webot_json_parse(P, "{\"a\":\"\xff\"}", 9, &why) && why,
       "invalid UTF-8 is rejected");
    why = NULL;
    ok(!webot_json_parse(P, "{\"a\":\"x\\u0000y\"}", 16, &why) && why,
       "an escaped NUL in a string is rejected");
    why = NULL;
    ok(!webot_json_parse(P, "{\"a\":1}\0", 8, &why) && why,
       "a raw NUL byte after the value is rejected");
    why = NULL;
    ok(!webot_json_parse(P, "{\"a\":1", 6, &why) && why,
       "truncated JSON is rejected");
    has_str(why, "line 1", "the reason has a line number");
    why = NULL;
    ok(!webot_json_parse(P, "{\"a\":1} x", 9, &why) && why,
       "trailing garbage is rejected");
    j = webot_json_parse(P, "[1,2]", 5, &why);
    ok(json_is_array(j), "an array root parses (the dispatcher rejects it)");
    is_str(webot_json_dump(P, J("{\"b\":1,\"a\":[true,null]}")),
           "{\"b\":1,\"a\":[true,null]}", "dump is compact, insertion order");
    is_str(webot_json_str(J("{\"a\":\"x\",\"b\":1}"), "a"), "x",
           "json_str of a string");
    ok(webot_json_str(J("{\"a\":\"x\",\"b\":1}"), "b") == NULL,
       "json_str of a number is NULL");
    ok(webot_json_str(NULL, "b") == NULL, "json_str of NULL is NULL");
}

static void test_errors(void)
{
    static const struct { const char *code; int status; } contract[] = {
        { "BAD_REQUEST", 400 }, { "IDEMPOTENCY_KEY_REQUIRED", 400 },
        { "WEBHOOK_SIGNATURE_INVALID", 400 }, { "UNAUTHORIZED", 401 },
        { "QUOTA_EXCEEDED", 402 }, { "ENTITLEMENT_REQUIRED", 403 },
        { "FORBIDDEN", 403 }, { "CSRF_FAILED", 403 }, { "NOT_FOUND", 404 },
        { "METHOD_NOT_ALLOWED", 405 }, { "IDEMPOTENCY_IN_PROGRESS", 409 },
        { "INVALID_STATE", 409 }, { "PAYLOAD_TOO_LARGE", 413 },
        { "UNSUPPORTED_MEDIA_TYPE", 415 }, { "VALIDATION_ERROR", 422 },
        { "IDEMPOTENCY_CONFLICT", 422 }, { "INTAKE_INCOMPLETE", 422 },
        { "RATE_LIMITED", 429 }, { "ACTIVE_JOB_LIMIT", 429 },
        { "CHECKOUT_UNAVAILABLE", 503 }, { "SERVICE_UNAVAILABLE", 503 },
        { "INTERNAL_ERROR", 500 } };
    static const char *const actions[] = { "retry", "wait", "revise_request",
        "upgrade_plan", "ask_human", "reauthenticate", "none", NULL };
    const webot_error_kind_t *k;
    unsigned i;
    int n = 0, table_ok = 1, act_ok = 1;
    webot_error_t *e;
    json_t *j, *err;
    const char *key;
    json_t *v;

    for (i = 0; i < sizeof(contract) / sizeof(*contract); i++) {
        k = webot_error_kind(contract[i].code);
        if (!k || k->status != contract[i].status) {
            table_ok = 0;
            diag("%s: %s", contract[i].code, k ? "wrong status" : "missing");
        }
    }
    ok(table_ok, "every contract code is in the table with its status");
    for (k = webot_error_kinds; k->code; k++) {
        const char *const *a;
        int found = 0;
        n++;
        for (a = actions; *a; a++) {
            found |= !strcmp(*a, k->suggested_action);
        }
        if (!found || !k->when || !*k->when) {
            act_ok = 0;
            diag("%s: bad suggested_action or when", k->code);
        }
    }
    ok(n == (int)(sizeof(contract) / sizeof(*contract)),
       "the table has exactly the contract's %d codes (has %d)",
       (int)(sizeof(contract) / sizeof(*contract)), n);
    ok(act_ok, "every suggested_action is a contract value, every code has "
       "a 'when'");
    is_str(webot_error_kind("SERVICE_UNAVAILABLE")->suggested_action, "retry",
           "SERVICE_UNAVAILABLE suggests retry");
    is_str(webot_error_kind("IDEMPOTENCY_IN_PROGRESS")->suggested_action,
           "retry", "IDEMPOTENCY_IN_PROGRESS suggests retry");
    is_str(webot_error_kind("ACTIVE_JOB_LIMIT")->suggested_action, "wait",
           "ACTIVE_JOB_LIMIT suggests wait");
    is_str(webot_error_kind("ENTITLEMENT_REQUIRED")->suggested_endpoint,
           "GET /api/v1/entitlements",
           "ENTITLEMENT_REQUIRED points at GET /api/v1/entitlements");
    ok(webot_error_kind("NO_SUCH_CODE") == NULL, "unknown code: no kind");

    e = webot_error_make(P, "NO_SUCH_CODE", "x");
    ok(e->status == 500 && !strcmp(e->code, "INTERNAL_ERROR"),
       "make with an unknown code gives INTERNAL_ERROR 500");
    e = webot_error_make(P, "SERVICE_UNAVAILABLE", "down %d", 1);
    ok(e->status == 503 && e->retry_after > 0, "503 carries a Retry-After");
    is_str(e->message, "down 1", "message is formatted");
    e = webot_error_make(P, "RATE_LIMITED", "slow");
    ok(e->retry_after > 0, "429 carries a Retry-After");
    e = webot_error_make(P, "NOT_FOUND", "nope");
    ok(e->retry_after == 0, "404 has no Retry-After");

    j = webot_json_own(P, webot_error_json(e, "req_1"));
    ok(json_is_object(j) && json_object_size(j) == 1, "body has one member");
    err = json_object_get(j, "error");
    ok(json_is_object(err), "body is {\"error\":{...}}");
    n = 0;
    json_object_foreach(err, key, v) {
        static const char *const want[] = { "code", "message", "request_id",
            "suggested_action", "suggested_endpoint", "param", "details",
            NULL };
        const char *const *w;
        for (w = want; *w; w++) {
            if (!strcmp(*w, key)) {
                n++;
            }
        }
    }
    ok(n == 7 && json_object_size(err) == 7,
       "error has exactly the seven contract fields");
    is_str(webot_json_str(err, "code"), "NOT_FOUND", "code");
    is_str(webot_json_str(err, "message"), "nope", "message");
    is_str(webot_json_str(err, "request_id"), "req_1", "request_id");
    is_str(webot_json_str(err, "suggested_action"), "revise_request",
           "suggested_action");
    ok(json_is_null(json_object_get(err, "suggested_endpoint")),
       "suggested_endpoint null");
    ok(json_is_null(json_object_get(err, "param")), "param null");
    ok(json_is_array(json_object_get(err, "details"))
       && json_array_size(json_object_get(err, "details")) == 0,
       "details is an empty list");

    e = webot_error_make(P, "VALIDATION_ERROR", "bad");
    webot_error_add_param(P, e, "title", "must be a string");
    webot_error_add_param(P, e, "intake.tone", "is required");
    webot_error_add_param(P, e, NULL, "root problem");
    is_str(e->param, "title", "param is the first problem's");
    j = webot_json_own(P, webot_error_json(e, "r"));
    err = json_object_get(j, "error");
    is_str(webot_json_dump(P, json_object_get(err, "details")),
           "[{\"param\":\"title\",\"message\":\"must be a string\"},"
           "{\"param\":\"intake.tone\",\"message\":\"is required\"},"
           "{\"param\":null,\"message\":\"root problem\"}]",
           "details lists every problem as {param, message}");
    is_str(webot_json_str(err, "param"), "title", "param in the body");
    j = webot_json_own(P, webot_error_json(e, NULL));
    ok(json_object_get(json_object_get(j, "error"), "request_id") != NULL,
       "request_id is present even without an id");
    e = webot_error_make(P, "QUOTA_EXCEEDED", "used up");
    j = webot_json_own(P, webot_error_json(e, "r"));
    is_str(webot_json_str(json_object_get(j, "error"), "suggested_endpoint"),
           "GET /api/v1/usage", "QUOTA_EXCEEDED points at GET /api/v1/usage");
}

/* ====================================================================== */
/* webot_schema                                                              */

static webot_error_t *vfail(const char *schema, const char *inst, int *n)
{
    webot_error_t *e = webot_error_make(P, "VALIDATION_ERROR", "bad");
    *n = webot_schema_validate(P, J(schema), J(inst), "", e);
    return e;
}

/* Validates and checks the first problem's param and message. */
static void expect(const char *schema, const char *inst, const char *param,
                   const char *msg_part, const char *name)
{
    int n;
    webot_error_t *e = vfail(schema, inst, &n);
    json_t *d0 = json_array_get(e->details, 0);
    if (!param && !msg_part) {
        if (!ok(n == 0, "%s: valid", name)) {
            diag("  problems: %s", webot_json_dump(P, e->details));
        }
        return;
    }
    if (!ok(n >= 1 && d0, "%s: invalid", name)) {
        return;
    }
    is_str(webot_json_str(d0, "param"), param, apr_psprintf(P,
           "%s: param", name));
    has_str(webot_json_str(d0, "message"), msg_part, apr_psprintf(P,
            "%s: message", name));
}

static void test_schema(void)
{
    const char *obj = "{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"a\"],\"properties\":{"
        "\"a\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":3},"
        "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10},"
        "\"x\":{\"type\":\"number\"},"
        "\"b\":{\"type\":\"boolean\"},"
        "\"o\":{\"type\":[\"string\",\"null\"]},"
        "\"e\":{\"enum\":[\"red\",\"green\"]},"
        "\"c\":{\"const\":\"fixed\"},"
        "\"t\":{\"type\":\"string\",\"format\":\"date-time\"},"
        "\"p\":{\"type\":\"string\",\"pattern\":\"^file_[a-z2-7]{4}$\"},"
        "\"arr\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,"
          "\"uniqueItems\":true,\"items\":{\"type\":\"string\"}},"
        "\"m\":{\"type\":\"object\",\"minProperties\":1,\"maxProperties\":2,"
          "\"additionalProperties\":{\"type\":\"string\",\"maxLength\":2}}}}";
    int n;
    webot_error_t *e;
    char *big;
    int i;

    expect(obj, "{\"a\":\"ab\"}", NULL, NULL, "minimal object");
    expect(obj, "{\"a\":\"abc\",\"n\":10,\"x\":1.5,\"b\":false,\"o\":null,"
           "\"e\":\"red\",\"c\":\"fixed\",\"t\":\"2026-01-31T12:00:00Z\","
           "\"p\":\"file_ab23\",\"arr\":[\"x\",\"y\"],\"m\":{\"k\":\"v\"}}",
           NULL, NULL, "every keyword satisfied");
    expect(obj, "{}", "a", "is required", "required");
    expect(obj, "{\"a\":\"x\",\"zz\":1}", "zz", "is not a known field",
           "unknown field (additionalProperties false)");
    expect(obj, "{\"a\":5}", "a", "must be a string", "wrong type string");
    expect(obj, "{\"a\":\"x\",\"n\":\"5\"}", "n", "must be an integer",
           "a string is not an integer");
    expect(obj, "{\"a\":\"x\",\"n\":1.5}", "n", "must be an integer",
           "a real is not an integer");
    expect(obj, "{\"a\":\"x\",\"x\":3}", NULL, NULL,
           "an integer is a number");
    expect(obj, "{\"a\":\"x\",\"b\":\"true\"}", "b", "must be a boolean",
           "a string is not a boolean");
    expect(obj, "{\"a\":\"x\",\"o\":1}", "o", "string or null",
           "type list names every type");
    expect(obj, "{\"a\":\"\"}", "a", "must not be empty", "minLength 1");
    expect(obj, "{\"a\":\"abcd\"}", "a", "at most 3 characters",
           "maxLength");
    expect(obj, "{\"a\":\"\xC3\xA9\xC3\xA9\xC3\xA9\"}", NULL, NULL,
           "maxLength counts characters, not bytes");
    expect(obj, "{\"a\":\"x\",\"n\":0}", "n", "at least 1", "minimum");
    expect(obj, "{\"a\":\"x\",\"n\":11}", "n", "at most 10", "maximum");
    expect(obj, "{\"a\":\"x\",\"e\":\"blue\"}", "e", "must be one of",
           "enum");
    expect(obj, "{\"a\":\"x\",\"c\":\"other\"}", "c", "must be \"fixed\"",
           "const");
    expect(obj, "{\"a\":\"x\",\"t\":\"2026-02-30T00:00:00Z\"}", "t",
           "RFC 3339", "format date-time");
    expect(obj, "{\"a\":\"x\",\"p\":\"file_AB\"}", "p", "must match",
           "pattern");
    expect(obj, "{\"a\":\"x\",\"arr\":[]}", "arr", "at least 1 items",
           "minItems");
    expect(obj, "{\"a\":\"x\",\"arr\":[\"1\",\"2\",\"3\",\"4\"]}", "arr",
           "at most 3 items", "maxItems");
    expect(obj, "{\"a\":\"x\",\"arr\":[\"1\",\"2\",\"1\"]}", "arr[2]",
           "duplicate", "uniqueItems names the duplicate");
    expect(obj, "{\"a\":\"x\",\"arr\":[\"1\",2]}", "arr[1]",
           "must be a string", "items: param is arr[1]");
    expect(obj, "{\"a\":\"x\",\"m\":{}}", "m", "at least 1 entries",
           "minProperties");
    expect(obj, "{\"a\":\"x\",\"m\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}",
           "m", "at most 2 entries", "maxProperties");
    expect(obj, "{\"a\":\"x\",\"m\":{\"k\":\"long\"}}", "m.k",
           "at most 2 characters", "additionalProperties schema: m.k");
    expect(obj, "{\"a\":\"x\",\"m\":{\"k\":7}}", "m.k", "must be a string",
           "additionalProperties schema: type");
    expect(obj, "[1]", NULL, "must be an object",
           "root of the wrong type has a null param");

    /* several problems at once, all reported */
    e = vfail(obj, "{\"zz\":1,\"n\":99,\"b\":1}", &n);
    ok(n == 4 && json_array_size(e->details) == 4,
       "four problems reported at once (got %d)", n);
    is_str(e->param, "a", "param is the first problem's");

    /* the job creation body's shape: intake.x and file_ids[1] */
    {
        const char *job = "{\"type\":\"object\",\"additionalProperties\":"
            "false,\"required\":[\"service_option\"],\"properties\":{"
            "\"service_option\":{\"type\":\"string\"},"
            "\"intake\":{\"type\":\"object\",\"additionalProperties\":"
              "{\"type\":\"string\",\"maxLength\":10}},"
            "\"file_ids\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
              "\"pattern\":\"^file_[a-z2-7]{26}$\"}}}}";
        expect(job, "{\"service_option\":\"s\",\"intake\":{\"tone\":1}}",
               "intake.tone", "must be a string", "param intake.tone");
        expect(job, "{\"service_option\":\"s\",\"file_ids\":[\"file_"
               "aaaaaaaaaaaaaaaaaaaaaaaaaa\",\"file_x\"]}", "file_ids[1]",
               "must match", "param file_ids[1]");
        expect(job, "{\"service_option\":\"s\",\"intake\":\"x\"}", "intake",
               "must be an object", "intake not an object");
    }

    /* nested objects join with dots */
    expect("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\","
           "\"properties\":{\"b\":{\"type\":\"object\",\"required\":"
           "[\"c\"]}}}}}", "{\"a\":{\"b\":{}}}", "a.b.c", "is required",
           "nested param a.b.c");

    /* a prefix */
    e = webot_error_make(P, "VALIDATION_ERROR", "bad");
    n = webot_schema_validate(P, J("{\"type\":\"integer\"}"), J("\"x\""),
                              "limit", e);
    ok(n == 1, "a prefix path");
    is_str(e->param, "limit", "the prefix is the param");

    /* true schema and annotations */
    expect("{\"type\":\"object\",\"properties\":{\"a\":true}}",
           "{\"a\":[1,{\"b\":2}]}", NULL, NULL, "a true schema accepts all");
    expect("{\"type\":\"string\",\"description\":\"d\",\"examples\":[\"x\"]}",
           "\"v\"", NULL, NULL, "annotations are ignored");

    /* the cap of 50 problems */
    big = apr_pstrdup(P, "{");
    for (i = 0; i < 80; i++) {
        big = apr_psprintf(P, "%s%s\"k%d\":1", big, i ? "," : "", i);
    }
    big = apr_pstrcat(P, big, "}", NULL);
    e = vfail("{\"type\":\"object\",\"additionalProperties\":false}", big, &n);
    ok(n == 80, "80 unknown fields are counted (got %d)", n);
    ok(json_array_size(e->details) == 50, "details are capped at 50 (got %lu)",
       (unsigned long)json_array_size(e->details));

    ok(webot_utf8_len("") == 0, "utf8_len of empty");
    ok(webot_utf8_len("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80") == 4,
       "utf8_len counts 1-, 2-, 3- and 4-byte characters");
}

/* ====================================================================== */
/* webot_route_match                                                         */

static int h_dummy(struct webot_req_t *wr)
{
    (void)wr;
    return 0;
}

#define ROW(m, mnt, path) { m, mnt, path, "op", "public", WEBOT_AUTH_PUBLIC, \
    0, 0, "s", NULL, NULL, NULL, NULL, 200, NULL, NULL, NULL, NULL, h_dummy }

static const webot_route_t T[] = {
    ROW("GET", WEBOT_MOUNT_API, "/catalog"),
    ROW("POST", WEBOT_MOUNT_API, "/catalog/intent-check"),
    ROW("GET", WEBOT_MOUNT_API, "/jobs"),
    ROW("POST", WEBOT_MOUNT_API, "/jobs"),
    ROW("GET", WEBOT_MOUNT_API, "/jobs/{id}"),
    ROW("POST", WEBOT_MOUNT_API, "/jobs/{id}/cancel"),
    ROW("GET", WEBOT_MOUNT_API, "/jobs/{id}/events"),
    ROW("DELETE", WEBOT_MOUNT_API, "/api-keys/{id}"),
    ROW("PUT", WEBOT_MOUNT_API, "/files/upload/{id}"),
    ROW("POST", WEBOT_MOUNT_WEBHOOK, "/"),
    ROW("POST", WEBOT_MOUNT_CHECKOUT, "/"),
};
#define NT ((int)(sizeof(T) / sizeof(T[0])))

static webot_match_e M(webot_mount_e mount, const char *method,
                       const char *path, const webot_route_t **rt,
                       const char **id, const char **allow)
{
    return webot_route_match(P, T, NT, mount, method, path, rt, id, allow);
}

static void test_route_match(void)
{
    const webot_route_t *rt;
    const char *id, *allow;
    char longid[80];

    ok(M(WEBOT_MOUNT_API, "GET", "/catalog", &rt, &id, &allow)
       == WEBOT_MATCH_OK && rt == &T[0] && id == NULL, "GET /catalog");
    ok(M(WEBOT_MOUNT_API, "HEAD", "/catalog", &rt, &id, &allow)
       == WEBOT_MATCH_OK && rt == &T[0], "HEAD matches the GET route");
    ok(M(WEBOT_MOUNT_API, "POST", "/catalog", &rt, &id, &allow)
       == WEBOT_MATCH_METHOD && rt == NULL, "POST /catalog is 405");
    is_str(allow, "GET, HEAD", "Allow: GET, HEAD");
    ok(M(WEBOT_MOUNT_API, "DELETE", "/jobs", &rt, &id, &allow)
       == WEBOT_MATCH_METHOD, "DELETE /jobs is 405");
    is_str(allow, "GET, HEAD, POST", "Allow lists every method of the path");
    ok(M(WEBOT_MOUNT_API, "GET", "/catalog/intent-check", &rt, &id, &allow)
       == WEBOT_MATCH_METHOD, "GET on a POST-only route is 405");
    is_str(allow, "POST", "Allow: POST");
    ok(M(WEBOT_MOUNT_API, "HEAD", "/catalog/intent-check", &rt, &id, &allow)
       == WEBOT_MATCH_METHOD, "HEAD on a POST-only route is 405");
    ok(M(WEBOT_MOUNT_API, "GET", "/nope", &rt, &id, &allow)
       == WEBOT_MATCH_NOT_FOUND && allow == NULL, "unknown path is 404");
    ok(M(WEBOT_MOUNT_API, "GET", "/catalog/", &rt, &id, &allow)
       == WEBOT_MATCH_NOT_FOUND, "a trailing slash is another path");
    ok(M(WEBOT_MOUNT_API, "GET", "/CATALOG", &rt, &id, &allow)
       == WEBOT_MATCH_NOT_FOUND, "paths are case-sensitive");
    ok(M(WEBOT_MOUNT_API, "GET", "/catalogue", &rt, &id, &allow)
       == WEBOT_MATCH_NOT_FOUND, "a longer path does not match a prefix");
    ok(M(WEBOT_MOUNT_API, "GET", "", &rt, &id, &allow)
       == WEBOT_MATCH_NOT_FOUND, "the empty path is / (no route here)");
    ok(M(WEBOT_MOUNT_API, "get", "/catalog", &rt, &id, &allow)
       == WEBOT_MATCH_METHOD, "methods are case-sensitive");

    ok(M(WEBOT_MOUNT_API, "GET", "/jobs/job_abc-DEF_123", &rt, &id, &allow)
       == WEBOT_MATCH_OK && rt == &T[4], "GET /jobs/{id}");
    is_str(id, "job_abc-DEF_123", "the {id} segment");
    ok(M(WEBOT_MOUNT_API, "POST", "/jobs/job_1/cancel", &rt, &id, &allow)
       == WEBOT_MATCH_OK && rt == &T[5], "POST /jobs/{id}/cancel");
    is_str(id, "job_1", "the {id} of a sub-resource");
    ok(M(WEBOT_MOUNT_API, "GET", "/jobs/job_1/events", &rt, &id, &allow)
       == WEBOT_MATCH_OK && rt == &T[6], "GET /jobs/{id}/events");
    ok(M(WEBOT_MOUNT_API, "GET", "/jobs/job_1/cancel", &rt, &id, &allow)
       == WEBOT_MATCH_METHOD, "GET /jobs/{id}/cancel is 405");
    is_str(allow, "POST", "Allow: POST for the cancel route");
    ok(M(WEBOT_MOUNT_API, "GET", "/jobs/", &rt, &id, &allow)
       == WEBOT_MATCH_NOT_FOUND, "an empty {id} is 404");
    ok(M(WEBOT_MOUNT_API, "GET", "/jobs/a.b", &rt, &id, &allow)
       == WEBOT_MATCH_NOT_FOUND, "an {id} with a dot is 404");
    ok(M(WEBOT_MOUNT_API, "GET", "/jobs/a%20b", &rt, &id, &allow)
       == WEBOT_MATCH_NOT_FOUND, "an {id} with a percent is 404");
    ok(M(WEBOT_MOUNT_API, "GET", "/jobs/x/y", &rt, &id, &allow)
       == WEBOT_MATCH_NOT_FOUND, "an extra segment is 404");
    memset(longid, 'a', 64);
    longid[64] = '\0';
    ok(M(WEBOT_MOUNT_API, "GET", apr_pstrcat(P, "/jobs/", longid, NULL), &rt,
         &id, &allow) == WEBOT_MATCH_OK, "an {id} of 64 characters");
    longid[64] = 'a';
    longid[65] = '\0';
    ok(M(WEBOT_MOUNT_API, "GET", apr_pstrcat(P, "/jobs/", longid, NULL), &rt,
         &id, &allow) == WEBOT_MATCH_NOT_FOUND, "an {id} of 65 is 404");
    ok(M(WEBOT_MOUNT_API, "DELETE", "/api-keys/key_1", &rt, &id, &allow)
       == WEBOT_MATCH_OK && rt == &T[7], "DELETE /api-keys/{id}");
    ok(M(WEBOT_MOUNT_API, "PUT", "/files/upload/file_1", &rt, &id, &allow)
       == WEBOT_MATCH_OK && rt == &T[8], "PUT /files/upload/{id}");

    ok(M(WEBOT_MOUNT_WEBHOOK, "POST", "/", &rt, &id, &allow)
       == WEBOT_MATCH_OK && rt == &T[9], "the webhook mount's /");
    ok(M(WEBOT_MOUNT_WEBHOOK, "POST", "", &rt, &id, &allow)
       == WEBOT_MATCH_OK && rt == &T[9], "the webhook mount's empty path");
    ok(M(WEBOT_MOUNT_WEBHOOK, "GET", "/", &rt, &id, &allow)
       == WEBOT_MATCH_METHOD, "GET on the webhook is 405");
    is_str(allow, "POST", "Allow: POST on the webhook");
    ok(M(WEBOT_MOUNT_WEBHOOK, "GET", "/catalog", &rt, &id, &allow)
       == WEBOT_MATCH_NOT_FOUND, "API routes are not under another mount");
    ok(M(WEBOT_MOUNT_CHECKOUT, "POST", "/", &rt, &id, &allow)
       == WEBOT_MATCH_OK && rt == &T[10], "the checkout mount's /");

    is_str(webot_route_full_path(P, &T[4]), "/api/v1/jobs/{id}",
           "full path of an API route");
    is_str(webot_route_full_path(P, &T[9]), "/api/stripe/webhook",
           "full path of the webhook");
    is_str(webot_route_full_path(P, &T[10]), "/api/checkout/tier",
           "full path of checkout");
}

/* ====================================================================== */
/* webot_catalog and webot_jobcheck                                          */

static const char *top(void)
{
    const char *t = getenv("WEBOT_TOP");
    return t && *t ? t : ".";
}

static const char *tmpdir;

static const char *write_tmp(const char *name, const char *text)
{
    const char *path = apr_pstrcat(P, tmpdir, "/", name, NULL);
    FILE *f = fopen(path, "w");
    if (!f) {
        diag("cannot write %s", path);
        abort();
    }
    fputs(text, f);
    fclose(f);
    return path;
}

/* A valid minimal catalog; %s slots let tests break one part. */
#define FAM(id, extra) \
    "{\"id\":\"" id "\",\"name\":\"F\",\"intake_fields\":[{\"id\":\"tone\"," \
    "\"label\":\"tone\",\"required\":true,\"max_length\":10}]," \
    "\"quality_signals\":[\"q\"],\"service_options\":[{\"id\":\"" id "_opt\"," \
    "\"name\":\"O\"}]" extra "}"
#define PLAN(id, limits) \
    "{\"id\":\"" id "\",\"name\":\"P\",\"access\":[\"api\"],\"limits\":" \
    limits ",\"price\":{\"amount\":0,\"currency\":\"usd\",\"interval\":" \
    "\"month\"},\"stripe_lookup_key\":\"k\"}"
#define LIMITS "{\"monthly_jobs\":10,\"max_active_jobs\":2," \
    "\"max_revisions\":1,\"rate_limit_per_minute\":30," \
    "\"max_upload_bytes\":1000}"

static void bad_catalog(const char *name, const char *text,
                        const char *json_path, const char *problem)
{
    webot_catalog_t *c = NULL;
    const char *path = write_tmp(name, text);
    const char *err = webot_catalog_load(P, path, &c);
    if (!ok(err != NULL, "%s: rejected", name)) {
        return;
    }
    ok(!strncmp(err, path, strlen(path)), "%s: the message starts with the "
       "file name", name);
    has_str(err, apr_pstrcat(P, ": ", json_path, ": ", NULL),
            apr_psprintf(P, "%s: the message names %s", name, json_path));
    has_str(err, problem, apr_psprintf(P, "%s: the message says '%s'", name,
                                       problem));
    ok(!strchr(err, '\n'), "%s: one line", name);
}

static void test_catalog(void)
{
    webot_catalog_t *c = NULL;
    const char *path = apr_pstrcat(P, top(), "/conf/catalog.json", NULL);
    const char *err = webot_catalog_load(P, path, &c);
    int i, has_dash = 0, has_api = 0, has_both = 0, trial = 0;
    json_t *body, *st, *fams;

    if (!ok(err == NULL && c, "conf/catalog.json loads")) {
        diag("  %s", err ? err : "(no catalog)");
        return;
    }
    ok(c->families->nelts >= 3, "at least three families");
    ok(webot_catalog_option(c, "tone_rewrites_copy_polish") != NULL,
       "option tone_rewrites_copy_polish");
    is_str(webot_catalog_option(c, "tone_rewrites_copy_polish")->family->id,
           "create_polish", "its family is create_polish");
    ok(webot_catalog_option(c, "nope") == NULL, "unknown option: NULL");
    ok(webot_catalog_option(c, NULL) == NULL, "NULL option: NULL");
    for (i = 0; i < c->plans->nelts; i++) {
        const webot_plan_t *pl = APR_ARRAY_IDX(c->plans, i, webot_plan_t *);
        has_dash |= pl->access == WEBOT_ACCESS_DASHBOARD;
        has_api |= pl->access == WEBOT_ACCESS_API;
        has_both |= pl->access == (WEBOT_ACCESS_API | WEBOT_ACCESS_DASHBOARD);
        trial |= pl->access == WEBOT_ACCESS_API && pl->monthly_jobs <= 10;
    }
    ok(has_dash && has_api && has_both, "plans cover human, agent and both");
    ok(trial, "an agent trial plan of at most 10 jobs a month");
    ok(webot_catalog_plan(c, "agent_pro") != NULL, "plan lookup");

    body = webot_json_parse(P, c->catalog_json, c->catalog_json_len, &err);
    ok(json_is_object(body), "the rendered catalog is JSON");
    ok(c->catalog_json_len == strlen(c->catalog_json), "its length");
    st = json_object_get(body, "job_statuses");
    is_str(webot_json_dump(P, st), "[\"queued\",\"accepted\",\"running\","
           "\"needs_review\",\"ready_for_customer_review\",\"completed\","
           "\"rejected\",\"canceled\"]", "job_statuses in contract order");
    fams = json_object_get(body, "service_families");
    ok(json_array_size(fams) == (size_t)c->families->nelts,
       "every family rendered");
    {
        json_t *f0 = json_array_get(fams, 0);
        json_t *fld = json_array_get(json_object_get(f0, "intake_fields"), 0);
        ok(json_is_string(json_object_get(fld, "id"))
           && json_is_string(json_object_get(fld, "label"))
           && json_is_boolean(json_object_get(fld, "required"))
           && json_is_integer(json_object_get(fld, "max_length")),
           "intake_fields have id, label, required, max_length");
        ok(json_is_array(json_object_get(f0, "intake_requirements"))
           && json_is_array(json_object_get(f0, "quality_signals"))
           && json_is_array(json_object_get(f0, "service_options")),
           "family has intake_requirements, quality_signals, options");
    }
    ok(c->catalog_etag && strlen(c->catalog_etag) == 34
       && c->catalog_etag[0] == '"' && c->catalog_etag[33] == '"',
       "a strong ETag of 32 hex digits in quotes");

    /* bad catalogs: file, JSON path, problem */
    bad_catalog("empty.json", "", "$", "expected");
    {
        const char *p2 = apr_pstrcat(P, tmpdir, "/does-not-exist.json", NULL);
        err = webot_catalog_load(P, p2, &c);
        ok(err && !strncmp(err, p2, strlen(p2)) && strstr(err, ": $: "),
           "a missing file: named, with $");
        if (err) {
            diag("  %s", err);
        }
    }
    bad_catalog("badjson.json", "{\"service_families\": [", "$", "line 1");
    bad_catalog("notobject.json", "[]", "$", "must be a JSON object");
    bad_catalog("dupkey.json", "{\"plans\":[],\"plans\":[]}", "$",
                "duplicate");
    bad_catalog("unknown-top.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[" PLAN("pa", LIMITS) "],\"colour\":1}",
                "$.colour", "unknown field");
    bad_catalog("unknown-family-field.json", "{\"service_families\":["
                FAM("fa", ",\"price\":1") "],\"plans\":[" PLAN("pa", LIMITS)
                "]}", "$.service_families[0].price", "unknown field");
    bad_catalog("dup-family.json", "{\"service_families\":[" FAM("fa", "")
                "," FAM("fa", "") "],\"plans\":[" PLAN("pa", LIMITS) "]}",
                "$.service_families[1].id", "duplicate id");
    bad_catalog("dup-plan.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[" PLAN("pa", LIMITS) "," PLAN("pa", LIMITS)
                "]}", "$.plans[1].id", "duplicate id");
    bad_catalog("no-families.json", "{\"plans\":[" PLAN("pa", LIMITS) "]}",
                "$.service_families", "is required");
    bad_catalog("empty-plans.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[]}", "$.plans", "at least 1");
    bad_catalog("bad-id.json", "{\"service_families\":[" FAM("Fa", "")
                "],\"plans\":[" PLAN("pa", LIMITS) "]}",
                "$.service_families[0].id", "must match");
    bad_catalog("neg-limit.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[" PLAN("pa", "{\"monthly_jobs\":-1,"
                "\"max_active_jobs\":2,\"max_revisions\":1,"
                "\"rate_limit_per_minute\":30,\"max_upload_bytes\":1000}")
                "]}", "$.plans[0].limits.monthly_jobs",
                "must be an integer from 0");
    bad_catalog("string-limit.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[" PLAN("pa", "{\"monthly_jobs\":\"10\","
                "\"max_active_jobs\":2,\"max_revisions\":1,"
                "\"rate_limit_per_minute\":30,\"max_upload_bytes\":1000}")
                "]}", "$.plans[0].limits.monthly_jobs", "must be an integer");
    bad_catalog("missing-limit.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[" PLAN("pa", "{\"monthly_jobs\":10,"
                "\"max_active_jobs\":2,\"max_revisions\":1,"
                "\"max_upload_bytes\":1000}")
                "]}", "$.plans[0].limits.rate_limit_per_minute",
                "is required");
    bad_catalog("zero-rate.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[" PLAN("pa", "{\"monthly_jobs\":10,"
                "\"max_active_jobs\":2,\"max_revisions\":1,"
                "\"rate_limit_per_minute\":0,\"max_upload_bytes\":1000}")
                "]}", "$.plans[0].limits.rate_limit_per_minute",
                "from 1");
    bad_catalog("unknown-limit.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[" PLAN("pa", "{\"monthly_jobs\":10,"
                "\"max_active_jobs\":2,\"max_revisions\":1,\"seats\":3,"
                "\"rate_limit_per_minute\":5,\"max_upload_bytes\":1000}")
                "]}", "$.plans[0].limits.seats", "unknown field");
    bad_catalog("bad-access.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[{\"id\":\"pa\",\"name\":\"P\",\"access\":"
                "[\"api\",\"phone\"],\"limits\":" LIMITS ",\"price\":"
                "{\"amount\":0,\"currency\":\"usd\",\"interval\":\"month\"},"
                "\"stripe_lookup_key\":\"k\"}]}", "$.plans[0].access[1]",
                "\"api\" or \"dashboard\"");
    bad_catalog("bad-currency.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[{\"id\":\"pa\",\"name\":\"P\",\"access\":"
                "[\"api\"],\"limits\":" LIMITS ",\"price\":"
                "{\"amount\":0,\"currency\":\"USD\",\"interval\":\"month\"},"
                "\"stripe_lookup_key\":\"k\"}]}", "$.plans[0].price.currency",
                "lower-case");
    bad_catalog("bad-interval.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[{\"id\":\"pa\",\"name\":\"P\",\"access\":"
                "[\"api\"],\"limits\":" LIMITS ",\"price\":"
                "{\"amount\":0,\"currency\":\"usd\",\"interval\":\"week\"},"
                "\"stripe_lookup_key\":\"k\"}]}", "$.plans[0].price.interval",
                "\"month\" or \"year\"");
    bad_catalog("no-lookup-key.json", "{\"service_families\":[" FAM("fa", "")
                "],\"plans\":[{\"id\":\"pa\",\"name\":\"P\",\"access\":"
                "[\"api\"],\"limits\":" LIMITS ",\"price\":"
                "{\"amount\":0,\"currency\":\"usd\",\"interval\":\"month\"}"
                "}]}", "$.plans[0].stripe_lookup_key", "is required");
    bad_catalog("field-required.json", "{\"service_families\":[{\"id\":"
                "\"fa\",\"name\":\"F\",\"intake_fields\":[{\"id\":\"tone\","
                "\"label\":\"tone\",\"required\":\"yes\",\"max_length\":10}],"
                "\"quality_signals\":[],\"service_options\":[{\"id\":\"oa\","
                "\"name\":\"O\"}]}],\"plans\":[" PLAN("pa", LIMITS) "]}",
                "$.service_families[0].intake_fields[0].required",
                "must be a boolean");
    bad_catalog("dup-field.json", "{\"service_families\":[{\"id\":"
                "\"fa\",\"name\":\"F\",\"intake_fields\":[{\"id\":\"tone\","
                "\"label\":\"t\",\"required\":true,\"max_length\":10},"
                "{\"id\":\"tone\",\"label\":\"t2\",\"required\":true,"
                "\"max_length\":10}],\"quality_signals\":[],"
                "\"service_options\":[{\"id\":\"oa\",\"name\":\"O\"}]}],"
                "\"plans\":[" PLAN("pa", LIMITS) "]}",
                "$.service_families[0].intake_fields[1].id",
                "duplicate intake field");
    bad_catalog("dup-option.json", "{\"service_families\":[" FAM("fa", "")
                ",{\"id\":\"fb\",\"name\":\"F\",\"intake_fields\":[{\"id\":"
                "\"tone\",\"label\":\"t\",\"required\":true,\"max_length\":"
                "10}],\"quality_signals\":[],\"service_options\":[{\"id\":"
                "\"fa_opt\",\"name\":\"O\"}]}],\"plans\":[" PLAN("pa", LIMITS)
                "]}", "$.service_families[1].service_options[0].id",
                "duplicate id");
    {
        /* the minimal valid catalog the bad ones derive from loads */
        const char *p3 = write_tmp("good.json", "{\"service_families\":["
            FAM("fa", "") "],\"plans\":[" PLAN("pa", LIMITS) "]}");
        err = webot_catalog_load(P, p3, &c);
        if (!ok(err == NULL, "the minimal catalog loads")) {
            diag("  %s", err);
        }
    }
}

static void test_jobcheck(void)
{
    webot_catalog_t *c = NULL;
    const char *path = apr_pstrcat(P, top(), "/conf/catalog.json", NULL);
    const json_t *schema = J("{\"type\":\"object\",\"additionalProperties\":"
        "false,\"required\":[\"service_option\"],\"properties\":{"
        "\"service_option\":{\"type\":\"string\"},\"title\":{\"type\":"
        "\"string\",\"maxLength\":200},\"intake\":{\"type\":\"object\","
        "\"additionalProperties\":{\"type\":\"string\"}}}}");
    webot_jobcheck_t *jc;
    webot_error_t *e;
    apr_pool_t *outer = P, *sub;

    /* a pool of its own, destroyed at the end, so that a memory error in
     * the errors built here shows up here (ASan) */
    apr_pool_create(&sub, outer);
    P = sub;
    if (webot_catalog_load(P, path, &c)) {
        ok(0, "jobcheck: catalog loads");
        P = outer;
        return;
    }
    jc = webot_jobcheck(P, c, schema, J("{\"service_option\":"
        "\"tone_rewrites_copy_polish\",\"intake\":{\"audience\":\"a\","
        "\"brand_constraints\":\"b\",\"tone\":\"c\",\"delivery_format\":"
        "\"d\"}}"));
    ok(jc->option && jc->nproblems == 0 && json_array_size(jc->missing) == 0,
       "jobcheck: a complete request passes");
    ok(webot_jobcheck_error(P, jc) == NULL, "jobcheck: no error");

    jc = webot_jobcheck(P, c, schema, J("{\"service_option\":"
        "\"tone_rewrites_copy_polish\",\"intake\":{\"audience\":\"a\","
        "\"tone\":\"   \"}}"));
    ok(jc->nproblems == 0 && json_array_size(jc->missing) == 3,
       "jobcheck: two absent and one blank requirement are missing");
    is_str(webot_json_dump(P, json_array_get(jc->missing, 0)),
           "{\"id\":\"brand_constraints\",\"label\":\"brand or style "
           "constraints\"}", "missing items are {id, label}");
    e = webot_jobcheck_error(P, jc);
    ok(e && e->status == 422 && !strcmp(e->code, "INTAKE_INCOMPLETE"),
       "jobcheck: INTAKE_INCOMPLETE");
    ok(e && json_array_size(e->details) == 3, "its details list them");

    jc = webot_jobcheck(P, c, schema, J("{\"service_option\":\"nope\"}"));
    ok(!jc->option && jc->nproblems == 1, "jobcheck: unknown option");
    is_str(jc->problems->param, "service_option", "param service_option");
    e = webot_jobcheck_error(P, jc);
    ok(e && !strcmp(e->code, "VALIDATION_ERROR"), "VALIDATION_ERROR");

    jc = webot_jobcheck(P, c, schema, J("{\"service_option\":"
        "\"tone_rewrites_copy_polish\",\"intake\":{\"colour\":\"x\"}}"));
    ok(jc->nproblems == 1, "jobcheck: an unknown intake key is a problem");
    is_str(jc->problems->param, "intake.colour", "param intake.colour");

    jc = webot_jobcheck(P, c, schema, J(apr_psprintf(P, "{\"service_option\":"
        "\"tone_rewrites_copy_polish\",\"intake\":{\"tone\":\"%0*d\"}}",
        501, 0)));
    ok(jc->nproblems == 1, "jobcheck: over max_length is a problem");
    is_str(jc->problems->param, "intake.tone", "param intake.tone");

    jc = webot_jobcheck(P, c, schema, J("{\"title\":5,\"extra\":1}"));
    ok(jc->nproblems == 3, "jobcheck: schema problems are counted (%d)",
       jc->nproblems);
    ok(!jc->option && json_array_size(jc->missing) == 0,
       "jobcheck: no option, nothing missing");
    P = outer;
    apr_pool_destroy(sub);
    ok(1, "jobcheck: its pool is destroyed cleanly");
}

/* ====================================================================== */
/* webot_openapi                                                             */

static const char *const E_T[] = { "NOT_FOUND", "VALIDATION_ERROR", NULL };
static const char *const E_BAD[] = { "NO_SUCH_CODE", NULL };

static void test_openapi(void)
{
    static const webot_route_t R[] = {
        { "GET", WEBOT_MOUNT_API, "/things/{id}", "getThing", "public",
          WEBOT_AUTH_PUBLIC, 0, WEBOT_RF_ETAG, "A thing", "d", NULL, NULL,
          NULL, 200, "{\"type\":\"object\"}", "{}", E_T, NULL, h_dummy },
        { "POST", WEBOT_MOUNT_API, "/things", "makeThing", "jobs",
          WEBOT_AUTH_REQUIRED, WEBOT_SCOPE_JOBS_WRITE,
          WEBOT_RF_IDEMPOTENCY_REQ, "Make", "d", NULL,
          "{\"type\":\"object\"}", "{}", 201, "{\"type\":\"object\"}", "{}",
          E_T, NULL, h_dummy },
        { "POST", WEBOT_MOUNT_WEBHOOK, "/", "hook", "billing",
          WEBOT_AUTH_STRIPE, 0, WEBOT_RF_RAW_BODY, "Hook", "d", NULL, NULL,
          NULL, 200, NULL, NULL, E_T, NULL, h_dummy },
    };
    static const webot_named_schema_t comps[] = {
        { "Thing", "{\"type\":\"object\"}" }, { NULL, NULL } };
    const char *err = NULL;
    json_t *doc = webot_openapi_build(P, R, 3, comps, &err), *paths, *op;

    if (!ok(doc != NULL, "openapi: builds")) {
        diag("  %s", err ? err : "");
        return;
    }
    is_str(webot_json_str(doc, "openapi"), "3.1.0", "openapi 3.1.0");
    paths = json_object_get(doc, "paths");
    ok(json_object_size(paths) == 3, "three paths");
    op = json_object_get(json_object_get(paths, "/api/v1/things/{id}"), "get");
    ok(op != NULL, "/api/v1/things/{id} get");
    ok(json_object_get(json_object_get(op, "responses"), "404")
       && json_object_get(json_object_get(op, "responses"), "422")
       && json_object_get(json_object_get(op, "responses"), "304"),
       "error responses and 304 listed");
    op = json_object_get(json_object_get(paths, "/api/v1/things"), "post");
    ok(op && json_object_get(json_object_get(op, "responses"), "201"),
       "201 response of POST /things");
    ok(op && json_object_get(op, "requestBody"), "requestBody present");
    ok(json_object_get(json_object_get(paths, "/api/stripe/webhook"), "post")
       != NULL, "the webhook path is its full location");
    ok(json_object_get(json_object_get(json_object_get(doc, "components"),
       "schemas"), "Thing") != NULL, "components/schemas/Thing");

    {
        webot_route_t bad = R[0];
        bad.errors = E_BAD;
        err = NULL;
        ok(webot_openapi_build(P, &bad, 1, comps, &err) == NULL && err,
           "openapi: an unknown error code in a row fails the build");
        bad = R[0];
        bad.response_schema = "{not json";
        err = NULL;
        ok(webot_openapi_build(P, &bad, 1, comps, &err) == NULL && err,
           "openapi: a schema that is not JSON fails the build");
    }
}

/* ====================================================================== */

/* --- webot_batchq.h ------------------------------------------------------ */

typedef struct bq_item {
    int id;
    int state;
    struct bq_item *next;
} bq_item;

static void test_batchq(void)
{
    WEBOT_BATCHQ(bq_item) q = { NULL, NULL };
    bq_item it[5], *v[4];
    int i, n = -1;

    ok(WEBOT_BATCHQ_EMPTY(&q), "batchq: a new queue is empty");
    WEBOT_BATCHQ_TAKE(&q, v, 4, 7, n);
    ok(n == 0 && WEBOT_BATCHQ_EMPTY(&q), "batchq: taking from an empty queue takes none");
    for (i = 0; i < 5; i++) {
        it[i].id = i;
        it[i].state = 0;
        it[i].next = &it[(i + 1) % 5];      /* stale links are overwritten */
        WEBOT_BATCHQ_PUSH(&q, &it[i]);
    }
    WEBOT_BATCHQ_TAKE(&q, v, 3, 7, n);
    ok(n == 3 && v[0]->id == 0 && v[1]->id == 1 && v[2]->id == 2,
       "batchq: takes at most max, from the front, in arrival order");
    ok(it[0].state == 7 && it[2].state == 7 && it[3].state == 0,
       "batchq: the taken ones are marked, the others not");
    ok(q.head == &it[3] && q.tail == &it[4], "batchq: the rest stays queued");
    WEBOT_BATCHQ_PUSH(&q, &it[0]);
    WEBOT_BATCHQ_TAKE(&q, v, 4, 8, n);
    ok(n == 3 && v[0]->id == 3 && v[1]->id == 4 && v[2]->id == 0,
       "batchq: a pushed item joins the back");
    ok(WEBOT_BATCHQ_EMPTY(&q) && q.tail == NULL,
       "batchq: taking the last empties head and tail");
    WEBOT_BATCHQ_PUSH(&q, &it[1]);
    ok(q.head == &it[1] && q.tail == &it[1] && it[1].next == NULL,
       "batchq: pushing onto an emptied queue");
}

int main(void)
{
    char tmpl[] = "/tmp/webot-unit.XXXXXX";

    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&P, NULL);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 2;
    }
    tmpdir = tmpl;

    test_ids_tokens();
    test_hashes();
    test_hex_b64();
    test_time();
    test_parse_int();
    test_token_syntax();
    test_json_parse();
    test_errors();
    test_schema();
    test_route_match();
    test_catalog();
    test_jobcheck();
    test_openapi();
    test_batchq();

    {
        /* remove the temporary catalogs */
        apr_dir_t *d;
        apr_finfo_t fi;
        if (apr_dir_open(&d, tmpdir, P) == APR_SUCCESS) {
            while (apr_dir_read(&fi, APR_FINFO_NAME, d) == APR_SUCCESS) {
                if (fi.name[0] != '.') {
                    apr_file_remove(apr_pstrcat(P, tmpdir, "/", fi.name,
                                                NULL), P);
                }
            }
            apr_dir_close(d);
        }
        rmdir(tmpdir);
    }
    apr_pool_destroy(P);
    printf("1..%d\n", ntests);
    if (nfailed) {
        printf("# %d of %d failed\n", nfailed, ntests);
    }
    return nfailed ? 1 : 0;
}
