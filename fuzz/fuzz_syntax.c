/* fuzz_syntax.c: the small parsers of header and query values
 * (webot_util.c and friends), each input through all of them:
 *
 *   webot_request_id_valid       X-Request-Id
 *   webot_idempotency_key_valid  Idempotency-Key
 *   webot_parse_int              limit=, expires=, ... (several ranges)
 *   webot_time_parse             created_after=, cursors
 *   webot_unb64url, webot_unhex  cursors, signatures
 *   webot_file_id_valid, webot_mcp_tool_name_valid,
 *   webot_mcp_version_supported, webot_stripe_key_mode
 *
 * The input up to its first NUL is the header value (what httpd hands on).
 * Properties, against small reference implementations here: token syntax
 * [A-Za-z0-9._:-] with lengths 1..128 and 16..128; integers exactly as
 * strtoll with no sign but '-', no blanks, no trailing bytes, in range;
 * a parsed time prints back (RFC 3339, microseconds) to a text that parses
 * to the same instant; base64url and hex decode back to their canonical
 * text (so one value has one spelling). */
#include "fuzz_common.h"

#include <apr_lib.h>
#include <errno.h>

#include "webot_mcp.h"
#include "webot_stripe.h"
#include "webot_upload_sig.h"
#include "webot_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    return 0;
}

static int ref_token(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    return n >= min && n <= max
           && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789._:-") == n;
}

static int ref_int(const char *s, long long min, long long max,
                   long long *out)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    size_t n = strlen(d);
    char *end;
    long long v;
    if (!n || strspn(d, "0123456789") != n) {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static void ints(const char *s)
{
    static const long long ranges[][2] = {
        { 1, 100 }, { 0, 253402300799LL }, { -1, 1 },
        { -9223372036854775807LL - 1, 9223372036854775807LL } };
    size_t i;
    for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        long long a = 0, b = 0;
        int ra = webot_parse_int(s, ranges[i][0], ranges[i][1], &a);
        int rb = ref_int(s, ranges[i][0], ranges[i][1], &b);
        CHECK(!ra == !rb);
        CHECK(ra || a == b);
    }
}

static void times(apr_pool_t *p, const char *s)
{
    apr_time_t t, t2;
    const char *back;
    if (webot_time_parse(s, &t)) {
        return;
    }
    /* years 1970..9999 with offsets may step out of the printable range;
     * inside it, print and parse again */
    if (t < 0 || t >= APR_INT64_C(253402300800000000)) {
        return;
    }
    back = webot_time_rfc3339(p, t, 1);
    CHECK(!webot_time_parse(back, &t2));
    CHECK(t == t2);
    /* whole seconds too */
    back = webot_time_rfc3339(p, t, 0);
    CHECK(!webot_time_parse(back, &t2));
    CHECK(t2 == t - t % APR_USEC_PER_SEC);
}

static void b64(apr_pool_t *p, const char *s)
{
    unsigned char *raw = NULL;
    long n = webot_unb64url(p, s, &raw);
    if (n < 0) {
        return;
    }
    CHECK(raw != NULL || n == 0);
    CHECK(!strcmp(webot_b64url(p, raw, (apr_size_t)n), s));
}

static void hex(apr_pool_t *p, const char *s)
{
    size_t len = strlen(s), i;
    unsigned char *out = apr_palloc(p, len / 2 + 1);
    long n = webot_unhex(s, out, len / 2 + 1);
    char *lower;
    if (n < 0) {
        return;
    }
    CHECK((size_t)n * 2 == len);
    lower = apr_pstrdup(p, s);
    for (i = 0; i < len; i++) {
        lower[i] = (char)apr_tolower(lower[i]);
    }
    CHECK(!strcmp(webot_hex(p, out, (apr_size_t)n), lower));
    /* too small a buffer is refused, not overrun */
    if (n > 0) {
        CHECK(webot_unhex(s, out, (apr_size_t)n - 1) == -1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *f[1], *s;

    fuzz_fields(p, data, size, f, 1);
    s = f[0];

    CHECK(!webot_request_id_valid(s) == !ref_token(s, 1, 128));
    CHECK(!webot_idempotency_key_valid(s) == !ref_token(s, 16, 128));
    ints(s);
    times(p, s);
    b64(p, s);
    hex(p, s);
    if (webot_file_id_valid(s)) {
        CHECK(strlen(s) == 31 && !strncmp(s, "file_", 5)
              && strspn(s + 5, "abcdefghijklmnopqrstuvwxyz234567") == 26);
    }
    if (webot_mcp_tool_name_valid(s)) {
        size_t n = strlen(s);
        CHECK(n >= 1 && n <= 64 && s[0] >= 'a' && s[0] <= 'z'
              && strspn(s, "abcdefghijklmnopqrstuvwxyz_") == n);
    }
    if (webot_mcp_version_supported(s)) {
        CHECK(!strcmp(webot_mcp_negotiate(s), s));
    }
    else {
        CHECK(webot_mcp_negotiate(s) == webot_mcp_versions[0]);
    }
    (void)webot_mcp_version_allows_batch(s);
    CHECK(webot_stripe_key_mode(s) == WEBOT_STRIPE_MODE_UNKNOWN
          || !strncmp(s + 2, "_test_", 6) || !strncmp(s + 2, "_live_", 6));
    apr_pool_destroy(p);
    return 0;
}
