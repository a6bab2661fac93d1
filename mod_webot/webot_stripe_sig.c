/* webot_stripe_sig.c: Stripe webhook signatures (Stripe-Signature header)
 * and webhook secret files. See webot_stripe.h. */
#include "webot_stripe.h"
#include "webot_util.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static const char *trim(const char *s, const char *e, const char **end)
{
    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    *end = e;
    return s;
}

/* "t" value: 1..15 decimal digits, nothing else. */
static int parse_t(const char *s, const char *e, long long *out)
{
    long long v = 0;
    if (s == e || e - s > 15) {
        return -1;
    }
    for (; s < e; s++) {
        if (!apr_isdigit(*s)) {
            return -1;
        }
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

webot_stripe_sig_e webot_stripe_sig_verify(const char *header,
                                           const void *payload,
                                           apr_size_t len,
                                           const webot_stripe_secret_t *secrets,
                                           int nsecrets, long long now,
                                           long long tolerance,
                                           long long *t_out)
{
    unsigned char v1[WEBOT_STRIPE_SIG_MAX_V1][WEBOT_SHA256_LEN];
    int nv1 = 0, have_t = 0, matched = 0, i, j;
    const char *p, *t_text = NULL;
    apr_size_t t_len = 0, hlen, n;
    unsigned char *buf;
    long long t = 0;

    if (!header) {
        return WEBOT_STRIPE_SIG_MISSING;
    }
    if (!secrets || nsecrets <= 0) {
        return WEBOT_STRIPE_SIG_NO_SECRET;
    }
    hlen = strlen(header);
    if (hlen == 0 || hlen > WEBOT_STRIPE_SIG_MAX_HEADER) {
        return WEBOT_STRIPE_SIG_MALFORMED;
    }
    for (p = header; *p; ) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        const char *ks, *ke, *vs, *ve, *eq;

        ks = trim(p, e, &ke);
        p = comma ? comma + 1 : e;
        if (ks == ke) {
            continue;                   /* empty item: "a,,b" */
        }
        eq = memchr(ks, '=', (apr_size_t)(ke - ks));
        if (!eq) {
            continue;                   /* not "k=v": ignored like Stripe */
        }
        vs = trim(eq + 1, ke, &ve);
        trim(ks, eq, &eq);
        if (eq - ks == 1 && ks[0] == 't') {
            if (have_t || parse_t(vs, ve, &t)) {
                return WEBOT_STRIPE_SIG_MALFORMED;
            }
            have_t = 1;
            t_text = vs;
            t_len = (apr_size_t)(ve - vs);
        }
        else if (eq - ks == 2 && ks[0] == 'v' && ks[1] == '1') {
            char hex[2 * WEBOT_SHA256_LEN + 1];
            if (nv1 >= WEBOT_STRIPE_SIG_MAX_V1) {
                continue;
            }
            /* a v1 that is not 64 hex digits cannot match: skip it */
            if (ve - vs != 2 * WEBOT_SHA256_LEN) {
                continue;
            }
            memcpy(hex, vs, sizeof(hex) - 1);
            hex[sizeof(hex) - 1] = '\0';
            if (webot_unhex(hex, v1[nv1], WEBOT_SHA256_LEN)
                != WEBOT_SHA256_LEN) {
                continue;
            }
            nv1++;
        }
        /* any other scheme (v0, future ones) is ignored */
    }
    if (!have_t) {
        return WEBOT_STRIPE_SIG_MALFORMED;
    }
    if (nv1 == 0) {
        return WEBOT_STRIPE_SIG_NO_V1;
    }
    if (t < now - tolerance) {
        return WEBOT_STRIPE_SIG_STALE;
    }
    if (t > now + tolerance) {
        return WEBOT_STRIPE_SIG_FUTURE;
    }
    /* "t.payload" once, then HMAC per secret */
    n = t_len + 1 + len;
    if (!(buf = malloc(n))) {
        return WEBOT_STRIPE_SIG_MISMATCH;
    }
    memcpy(buf, t_text, t_len);
    buf[t_len] = '.';
    if (len) {
        memcpy(buf + t_len + 1, payload, len);
    }
    for (i = 0; i < nsecrets; i++) {
        unsigned char want[WEBOT_SHA256_LEN];
        if (webot_hmac_sha256(secrets[i].key, secrets[i].len, buf, n,
                              want) != 0) {
            continue;
        }
        for (j = 0; j < nv1; j++) {
            /* no early exit: every pair is compared */
            matched |= CRYPTO_memcmp(want, v1[j], WEBOT_SHA256_LEN) == 0;
        }
        OPENSSL_cleanse(want, sizeof(want));
    }
    free(buf);
    if (!matched) {
        return WEBOT_STRIPE_SIG_MISMATCH;
    }
    if (t_out) {
        *t_out = t;
    }
    return WEBOT_STRIPE_SIG_OK;
}

const char *webot_stripe_sig_reason(webot_stripe_sig_e rc)
{
    switch (rc) {
    case WEBOT_STRIPE_SIG_OK:        return "valid";
    case WEBOT_STRIPE_SIG_MISSING:   return "no Stripe-Signature header";
    case WEBOT_STRIPE_SIG_MALFORMED: return "malformed Stripe-Signature "
                                            "header (t=)";
    case WEBOT_STRIPE_SIG_NO_V1:     return "no v1 signature in the header";
    case WEBOT_STRIPE_SIG_STALE:     return "timestamp older than the "
                                            "tolerance";
    case WEBOT_STRIPE_SIG_FUTURE:    return "timestamp in the future beyond "
                                            "the tolerance";
    case WEBOT_STRIPE_SIG_MISMATCH:  return "no v1 signature matches a "
                                            "configured secret";
    case WEBOT_STRIPE_SIG_NO_SECRET: return "no webhook secret is "
                                            "configured";
    }
    return "invalid";
}

char *webot_stripe_sig_header(apr_pool_t *p, const void *key,
                              apr_size_t keylen, long long t,
                              const void *payload, apr_size_t len)
{
    unsigned char mac[WEBOT_SHA256_LEN];
    char *ts = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)t);
    apr_size_t tl = strlen(ts);
    char *buf = apr_palloc(p, tl + 1 + len + 1);
    memcpy(buf, ts, tl);
    buf[tl] = '.';
    if (len) {
        memcpy(buf + tl + 1, payload, len);
    }
    if (webot_hmac_sha256(key, keylen, buf, tl + 1 + len, mac) != 0) {
        return NULL;
    }
    return apr_psprintf(p, "t=%s,v1=%s", ts,
                        webot_hex(p, mac, WEBOT_SHA256_LEN));
}

const char *webot_stripe_parse_secrets(apr_pool_t *p, const char *text,
                                       apr_size_t minlen,
                                       apr_array_header_t *out)
{
    const char *s = text;
    int line = 0;

    while (s && *s) {
        const char *nl = strchr(s, '\n');
        const char *e = nl ? nl : s + strlen(s);
        const char *b = s, *be;
        line++;
        s = nl ? nl + 1 : e;
        while (b < e && apr_isspace(*b)) {
            b++;
        }
        be = e;
        while (be > b && apr_isspace(be[-1])) {
            be--;
        }
        if (b == be || *b == '#') {
            continue;
        }
        if ((apr_size_t)(be - b) < minlen) {
            return apr_psprintf(p, "the secret on line %d is shorter than "
                                "%" APR_SIZE_T_FMT " characters", line,
                                minlen);
        }
        {
            const char *q;
            webot_stripe_secret_t *sec;
            for (q = b; q < be; q++) {
                if (apr_isspace(*q) || apr_iscntrl(*q)) {
                    return apr_psprintf(p, "the secret on line %d contains "
                                        "blanks or control characters",
                                        line);
                }
            }
            sec = apr_array_push(out);
            sec->key = (const unsigned char *)apr_pstrmemdup(p, b,
                                                  (apr_size_t)(be - b));
            sec->len = (apr_size_t)(be - b);
        }
    }
    return NULL;
}

webot_stripe_mode_e webot_stripe_key_mode(const char *key)
{
    if (!key) {
        return WEBOT_STRIPE_MODE_UNKNOWN;
    }
    if (!strncmp(key, "sk_test_", 8) || !strncmp(key, "rk_test_", 8)) {
        return WEBOT_STRIPE_MODE_TEST;
    }
    if (!strncmp(key, "sk_live_", 8) || !strncmp(key, "rk_live_", 8)) {
        return WEBOT_STRIPE_MODE_LIVE;
    }
    return WEBOT_STRIPE_MODE_UNKNOWN;
}
