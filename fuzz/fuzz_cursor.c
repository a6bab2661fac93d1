/* fuzz_cursor.c: the list cursor codec (webot_cursor.c). A cursor comes
 * back from the client in ?cursor=, so decode sees arbitrary text.
 *
 *   input = byte 0: mode, then NUL-separated fields
 *     mode 0: field 0 is a cursor text, decoded as is
 *     mode 1: fields are ts and id: encode, then decode must give them
 *             back, and must refuse another account, scope or secret and
 *             any one-character change
 *     mode 2: field 0 is a payload that gets a genuine MAC (as if the
 *             secret had leaked or a future version wrote it): decode may
 *             refuse it, and when it accepts, ts must parse and id be
 *             1..64 of [A-Za-z0-9_-]
 *
 * The MAC input of mode 2 repeats cursor_mac() of webot_cursor.c; if that
 * format changes, mode 2 only stops reaching the parser (no false crash). */
#include "fuzz_common.h"

#include <apr_lib.h>

#include "webot_cursor.h"
#include "webot_util.h"

static const unsigned char SECRET[] = "fuzz-cursor-secret-0123456789abcdef";
#define SECRET_LEN (sizeof(SECRET) - 1)
static const char *ACCOUNT = "acct_aaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char *SCOPE = "jobs|status=queued";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
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

static void accepted(const char *ts, const char *id)
{
    apr_time_t t;
    CHECK(ts && id);
    CHECK(webot_time_parse(ts, &t) == 0);
    CHECK(id_ok(id));
}

static int decode(apr_pool_t *p, const unsigned char *secret, size_t slen,
                  const char *account, const char *scope, const char *text,
                  const char **ts, const char **id)
{
    *ts = *id = NULL;
    return webot_cursor_decode(p, secret, slen, account, scope, text, ts,
                               id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *f[2], *ts, *id;
    if (size < 1) {
        return 0;
    }
    p = fuzz_pool();
    fuzz_fields(p, data + 1, size - 1, f, 2);

    switch (data[0] % 3) {
    case 0:
        if (!decode(p, SECRET, SECRET_LEN, ACCOUNT, SCOPE, f[0], &ts, &id)) {
            accepted(ts, id);
        }
        break;

    case 1: {
        char *c = webot_cursor_encode(p, SECRET, SECRET_LEN, ACCOUNT, SCOPE,
                                      f[0], f[1]);
        size_t i, n;
        if (!c) {
            break;
        }
        if (strlen(c) > WEBOT_CURSOR_MAX) {
            break;              /* e.g. a ts with 300 fraction digits: the
                                 * server only encodes its own timestamps */
        }
        CHECK(!decode(p, SECRET, SECRET_LEN, ACCOUNT, SCOPE, c, &ts, &id));
        CHECK(!strcmp(ts, f[0]) && !strcmp(id, f[1]));
        CHECK(decode(p, SECRET, SECRET_LEN, "acct_bbbbbbbbbbbbbbbbbbbbbbbbbb",
                     SCOPE, c, &ts, &id));
        CHECK(decode(p, SECRET, SECRET_LEN, ACCOUNT, "jobs|", c, &ts, &id));
        CHECK(decode(p, SECRET, SECRET_LEN - 1, ACCOUNT, SCOPE, c, &ts,
                     &id));
        /* every single-character change is refused */
        n = strlen(c);
        for (i = 0; i < n; i++) {
            char *d = apr_pstrdup(p, c);
            d[i] = d[i] == 'A' ? 'B' : 'A';
            CHECK(decode(p, SECRET, SECRET_LEN, ACCOUNT, SCOPE, d, &ts, &id));
        }
        break;
    }

    default: {
        /* a genuine MAC over arbitrary payload bytes */
        const char *payload = f[0];
        unsigned char mac[WEBOT_SHA256_LEN];
        const char *msg = apr_psprintf(p,
            "webot-cursor\n%lu:%s\n%lu:%s\n%lu:%s",
            (unsigned long)strlen(ACCOUNT), ACCOUNT,
            (unsigned long)strlen(SCOPE), SCOPE,
            (unsigned long)strlen(payload), payload);
        const char *text;
        if (!*payload
            || webot_hmac_sha256(SECRET, SECRET_LEN, msg, strlen(msg), mac)) {
            break;
        }
        text = apr_pstrcat(p,
            webot_b64url(p, (const unsigned char *)payload, strlen(payload)),
            ".", webot_b64url(p, mac, 16), NULL);
        if (!decode(p, SECRET, SECRET_LEN, ACCOUNT, SCOPE, text, &ts, &id)) {
            accepted(ts, id);
        }
        break;
    }
    }
    apr_pool_destroy(p);
    return 0;
}
