/* fuzz_sigv4.c: SigV4 canonicalisation and signing (webot_sigv4.c). The
 * S3 store signs requests whose path holds file ids, whose query and
 * headers hold values that came from clients (content type, size) and
 * from configuration.
 *
 *   input = byte 0: flags (bits 0-2 WEBOT_SIGV4_*, bit 3 presign, bit 4
 *           session token), bytes 1-2: expires when presigning, then
 *           NUL-separated fields: method, path, query, header name,
 *           header value, header name, header value, payload hash
 *
 * A Host header is always signed (the signer requires one).
 * Properties: the signature is 64 lowercase hex and deterministic; the
 * canonical request starts with the method and ends with the payload hash;
 * SignedHeaders holds host; the presigned query ends with the signature;
 * the signature does not change when header names change case, when
 * header values get blanks around them, or when the unreserved bytes of
 * a query without '%' are percent-encoded (all three are canonicalised
 * away by the algorithm); webot_sigv4_uri_encode's output is unreserved
 * bytes, '/', and upper-case %XX only, and decodes back to the input. */
#include "fuzz_common.h"

#include <apr_lib.h>

#include "webot_sigv4.h"

static const webot_sigv4_creds_t creds = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL,
    "us-east-1", "s3" };
static const webot_sigv4_creds_t creds_token = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW",
    "us-east-1", "s3" };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    return 0;
}

static int unreserved(int c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void uri_encode(apr_pool_t *p, const char *s)
{
    size_t len = strlen(s), n = 0, i;
    char *e = webot_sigv4_uri_encode(p, s, len, 1);
    char *d = apr_palloc(p, strlen(e) + 1);
    for (i = 0; e[i]; i++) {
        if (e[i] == '%') {
            CHECK(hexv(e[i + 1]) >= 0 && hexv(e[i + 2]) >= 0);
            d[n++] = (char)(hexv(e[i + 1]) << 4 | hexv(e[i + 2]));
            i += 2;
        }
        else {
            CHECK(unreserved((unsigned char)e[i]) || e[i] == '/');
            d[n++] = e[i];
        }
    }
    CHECK(n == len && !memcmp(d, s, len));
}

static const char *sign(apr_pool_t *p, const webot_sigv4_creds_t *c,
                        const webot_sigv4_request_t *rq, int expires,
                        webot_sigv4_result_t *out)
{
    /* 2015-08-30T12:36:00Z, the suite's instant */
    return webot_sigv4_sign(p, c, rq, APR_INT64_C(1440938160) * 1000000,
                            expires, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *f[8], *err;
    webot_sigv4_header_t h[3], h2[3];
    webot_sigv4_request_t rq, rq2;
    webot_sigv4_result_t res, res2;
    const webot_sigv4_creds_t *c;
    int nh = 1, i, expires = 0, has_pct;
    size_t k, len;

    if (size < 3) {
        return 0;
    }
    p = fuzz_pool();
    fuzz_fields(p, data + 3, size - 3, f, 8);
    uri_encode(p, f[1]);

    c = data[0] & 0x10 ? &creds_token : &creds;
    if (data[0] & 0x08) {
        expires = (data[1] << 8 | data[2]) % 604800 + 1;
    }
    h[0].name = "Host";
    h[0].value = "examplebucket.s3.amazonaws.com";
    for (i = 0; i < 2; i++) {
        if (*f[3 + 2 * i]) {
            h[nh].name = f[3 + 2 * i];
            h[nh].value = f[4 + 2 * i];
            nh++;
        }
    }
    memset(&rq, 0, sizeof(rq));
    rq.method = f[0];
    rq.path = f[1];
    rq.query = *f[2] ? f[2] : NULL;
    rq.headers = h;
    rq.nheaders = nh;
    rq.payload_hash = *f[7] ? f[7] : NULL;
    rq.flags = data[0] & 0x7;

    err = sign(p, c, &rq, expires, &res);
    if (err) {
        apr_pool_destroy(p);
        return 0;
    }
    CHECK(res.signature && strlen(res.signature) == 64
          && strspn(res.signature, "0123456789abcdef") == 64);
    len = strlen(rq.method);
    CHECK(!strncmp(res.canonical_request, rq.method, len)
          && res.canonical_request[len] == '\n');
    {
        const char *ph = rq.payload_hash ? rq.payload_hash
            : "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        size_t cl = strlen(res.canonical_request), pl = strlen(ph);
        CHECK(cl > pl && !strcmp(res.canonical_request + cl - pl, ph));
    }
    CHECK(strstr(res.signed_headers, "host") != NULL);
    if (expires) {
        /* the signature parameter comes after the canonical query it
         * signs (whose own parameters may contain look-alikes), followed
         * only by an unsigned session token (WEBOT_SIGV4_OMIT_TOKEN) */
        int unsigned_token = c->session_token
                             && (rq.flags & WEBOT_SIGV4_OMIT_TOKEN);
        const char *tail = apr_pstrcat(p, "X-Amz-Signature=", res.signature,
            unsigned_token ? "&X-Amz-Security-Token=" : "",
            unsigned_token ? webot_sigv4_uri_encode(p, c->session_token,
                                 strlen(c->session_token), 0) : "", NULL);
        size_t ql = strlen(res.query), tl = strlen(tail);
        CHECK(ql >= tl && !strcmp(res.query + ql - tl, tail)
              && (ql == tl || res.query[ql - tl - 1] == '&'));
    }
    else {
        CHECK(res.authorization && strstr(res.authorization, res.signature));
    }

    /* deterministic */
    CHECK(!sign(p, c, &rq, expires, &res2));
    CHECK(!strcmp(res.signature, res2.signature));

    /* header names in upper case, values with blanks around them */
    memcpy(h2, h, sizeof(h));
    for (i = 0; i < nh; i++) {
        char *n = apr_pstrdup(p, h[i].name);
        for (k = 0; n[k]; k++) {
            n[k] = (char)apr_toupper(n[k]);
        }
        h2[i].name = n;
        h2[i].value = apr_pstrcat(p, " \t", h[i].value, "  ", NULL);
    }
    rq2 = rq;
    rq2.headers = h2;
    CHECK(!sign(p, c, &rq2, expires, &res2));
    CHECK(!strcmp(res.signature, res2.signature));

    /* unreserved query bytes percent-encoded */
    has_pct = rq.query && strchr(rq.query, '%');
    if (rq.query && !has_pct) {
        static const char hx[] = "0123456789ABCDEF";
        const char *q = rq.query;
        char *e = apr_palloc(p, strlen(q) * 3 + 1), *o = e;
        for (; *q; q++) {
            unsigned char ch = (unsigned char)*q;
            if (unreserved(ch)) {
                *o++ = '%';
                *o++ = hx[ch >> 4];
                *o++ = hx[ch & 15];
            }
            else {
                *o++ = (char)ch;
            }
        }
        *o = '\0';
        rq2 = rq;
        rq2.query = e;
        CHECK(!sign(p, c, &rq2, expires, &res2));
        CHECK(!strcmp(res.signature, res2.signature));
    }
    apr_pool_destroy(p);
    return 0;
}
