/* webot_util.c: ids, hashes, HMAC, encodings, time and token syntax. */
#include "webot_util.h"

#include <apr_strings.h>
#include <apr_general.h>
#include <apr_lib.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const char *webot_id_new(apr_pool_t *p, const char *prefix)
{
    unsigned char rnd[16];
    char body[27];
    int i, bit = 0;

    if (apr_generate_random_bytes(rnd, sizeof(rnd)) != APR_SUCCESS) {
        return NULL;
    }
    /* 26 base32 characters carry 130 bits; the last one holds 3 spare. */
    for (i = 0; i < 26; i++, bit += 5) {
        int byte = bit / 8, off = bit % 8;
        unsigned v = (unsigned)rnd[byte] << 8;
        if (byte + 1 < (int)sizeof(rnd)) {
            v |= rnd[byte + 1];
        }
        body[i] = b32[(v >> (11 - off)) & 31];
    }
    body[26] = '\0';
    return apr_pstrcat(p, prefix, body, NULL);
}

const char *webot_token_new(apr_pool_t *p, const char *prefix, int bits)
{
    apr_size_t i;
    /* 62^k >= 2^bits needs k = ceil(bits / 5.954). Each character takes one
     * random byte, used modulo 62 only when it is below 248 (a multiple of
     * 62) and drawn again otherwise, so characters are unbiased. */
    apr_size_t nchars = (apr_size_t)((bits * 1000 + 5953) / 5954);
    char *out = apr_palloc(p, nchars + 1);
    apr_size_t n = 0;
    unsigned char buf[64];

    while (n < nchars) {
        if (apr_generate_random_bytes(buf, sizeof(buf)) != APR_SUCCESS) {
            return NULL;
        }
        for (i = 0; i < sizeof(buf) && n < nchars; i++) {
            if (buf[i] < 248) {
                out[n++] = b62[buf[i] % 62];
            }
        }
    }
    out[n] = '\0';
    OPENSSL_cleanse(buf, sizeof(buf));
    return apr_pstrcat(p, prefix, out, NULL);
}

const char *webot_key_display(apr_pool_t *p, const char *plaintext)
{
    apr_size_t len = strlen(plaintext);
    return apr_pstrcat(p, "wbt_\xE2\x80\xA6",
                       len >= 4 ? plaintext + len - 4 : plaintext, NULL);
}

void webot_sha256(const void *data, apr_size_t len,
                  unsigned char out[WEBOT_SHA256_LEN])
{
    unsigned int olen = WEBOT_SHA256_LEN;
    EVP_Digest(data, len, out, &olen, EVP_sha256(), NULL);
}

int webot_hmac_sha256(const void *key, apr_size_t keylen,
                      const void *data, apr_size_t len,
                      unsigned char out[WEBOT_SHA256_LEN])
{
    unsigned int olen = WEBOT_SHA256_LEN;
    return HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &olen)
           ? 0 : -1;
}

int webot_ct_equal(const void *a, apr_size_t alen,
                   const void *b, apr_size_t blen)
{
    if (alen != blen) {
        return 0;
    }
    return CRYPTO_memcmp(a, b, alen) == 0;
}

char *webot_hex(apr_pool_t *p, const unsigned char *buf, apr_size_t len)
{
    static const char hx[] = "0123456789abcdef";
    char *out = apr_palloc(p, len * 2 + 1);
    apr_size_t i;
    for (i = 0; i < len; i++) {
        out[2 * i] = hx[buf[i] >> 4];
        out[2 * i + 1] = hx[buf[i] & 15];
    }
    out[len * 2] = '\0';
    return out;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long webot_unhex(const char *hex, unsigned char *out, apr_size_t outmax)
{
    apr_size_t len = strlen(hex), i;
    if (len % 2 || len / 2 > outmax) {
        return -1;
    }
    for (i = 0; i < len / 2; i++) {
        int hi = hexval((unsigned char)hex[2 * i]);
        int lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return (long)(len / 2);
}

char *webot_b64url(apr_pool_t *p, const unsigned char *buf, apr_size_t len)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1), *o = out;
    apr_size_t i;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)buf[i] << 16 | buf[i + 1] << 8 | buf[i + 2];
        *o++ = tbl[v >> 18 & 63]; *o++ = tbl[v >> 12 & 63];
        *o++ = tbl[v >> 6 & 63];  *o++ = tbl[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)buf[i] << 16;
        *o++ = tbl[v >> 18 & 63]; *o++ = tbl[v >> 12 & 63];
    }
    else if (len - i == 2) {
        unsigned v = (unsigned)buf[i] << 16 | buf[i + 1] << 8;
        *o++ = tbl[v >> 18 & 63]; *o++ = tbl[v >> 12 & 63];
        *o++ = tbl[v >> 6 & 63];
    }
    *o = '\0';
    return out;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

long webot_unb64url(apr_pool_t *p, const char *in, unsigned char **out)
{
    apr_size_t len = strlen(in), i, n = 0;
    unsigned char *o;
    unsigned acc = 0;
    int bits = 0;

    if (len % 4 == 1) {
        return -1;
    }
    o = apr_palloc(p, len * 3 / 4 + 1);
    for (i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        return -1;              /* non-canonical trailing bits */
    }
    *out = o;
    return (long)n;
}

char *webot_time_rfc3339(apr_pool_t *p, apr_time_t t, int micro)
{
    apr_time_exp_t x;
    apr_time_exp_gmt(&x, t);
    if (micro) {
        return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                            x.tm_year + 1900, x.tm_mon + 1, x.tm_mday,
                            x.tm_hour, x.tm_min, x.tm_sec, x.tm_usec);
    }
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                        x.tm_year + 1900, x.tm_mon + 1, x.tm_mday,
                        x.tm_hour, x.tm_min, x.tm_sec);
}

static int digits(const char **s, int n, int *out)
{
    int v = 0, i;
    for (i = 0; i < n; i++) {
        if (!apr_isdigit((*s)[i])) {
            return -1;
        }
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

int webot_time_parse(const char *s, apr_time_t *out)
{
    apr_time_exp_t x;
    int y, mo, d, h, mi, se, usec = 0, off = 0;
    apr_time_t t;

    memset(&x, 0, sizeof(x));
    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo)
        || *s++ != '-' || digits(&s, 2, &d)
        || (*s != 'T' && *s != 't') || !*s++ || digits(&s, 2, &h)
        || *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':'
        || digits(&s, 2, &se)) {
        return -1;
    }
    if (*s == '.') {
        int n = 0;
        s++;
        if (!apr_isdigit(*s)) {
            return -1;
        }
        while (apr_isdigit(*s)) {
            if (n < 6) {
                usec = usec * 10 + (*s - '0');
                n++;
            }
            s++;
        }
        while (n++ < 6) {
            usec *= 10;
        }
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    }
    else if (*s == '+' || *s == '-') {
        int sign = *s == '-' ? -1 : 1, oh, om;
        s++;
        if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om)
            || oh > 23 || om > 59) {
            return -1;
        }
        off = sign * (oh * 3600 + om * 60);
    }
    else {
        return -1;
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
        || se > 60 || y < 1970) {
        return -1;
    }
    x.tm_year = y - 1900;
    x.tm_mon = mo - 1;
    x.tm_mday = d;
    x.tm_hour = h;
    x.tm_min = mi;
    x.tm_sec = se == 60 ? 59 : se;
    if (apr_time_exp_gmt_get(&t, &x) != APR_SUCCESS) {
        return -1;
    }
    /* reject impossible dates such as Feb 30 (mktime would normalise) */
    {
        apr_time_exp_t back;
        apr_time_exp_gmt(&back, t);
        if (back.tm_mday != d || back.tm_mon != mo - 1) {
            return -1;
        }
    }
    *out = t - apr_time_from_sec(off) + usec;
    return 0;
}

static int token_chars_ok(const char *s, apr_size_t min, apr_size_t max)
{
    apr_size_t n = 0;
    if (!s) {
        return 0;
    }
    for (; *s; s++, n++) {
        if (n >= max) {
            return 0;
        }
        if (!(apr_isalnum(*s) || *s == '.' || *s == '_' || *s == ':'
              || *s == '-')) {
            return 0;
        }
    }
    return n >= min;
}

int webot_request_id_valid(const char *s)
{
    return token_chars_ok(s, 1, 128);
}

int webot_idempotency_key_valid(const char *s)
{
    return token_chars_ok(s, 16, 128);
}

int webot_parse_int(const char *s, long long min, long long max,
                    long long *out)
{
    char *end;
    long long v;
    if (!s || !*s || (!apr_isdigit(*s) && *s != '-')) {
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
