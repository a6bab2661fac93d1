/* webot_sigv4.c: AWS Signature Version 4. See include/webot_sigv4.h; the
 * steps follow the AWS reference ("Create a canonical request", "Create a
 * string to sign", "Calculate the signature"). */
#include "webot_sigv4.h"
#include "webot_util.h"

#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_lib.h>
#include <stdlib.h>
#include <string.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static int unreserved(int c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

char *webot_sigv4_uri_encode(apr_pool_t *p, const char *s, apr_size_t len,
                             int keep_slash)
{
    static const char hx[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, len * 3 + 1), *o = out;
    apr_size_t i;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hx[c >> 4];
            *o++ = hx[c & 15];
        }
    }
    *o = '\0';
    return out;
}

char *webot_sigv4_amz_date(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t x;
    apr_time_exp_gmt(&x, t);
    return apr_psprintf(p, "%04d%02d%02dT%02d%02d%02dZ", x.tm_year + 1900,
                        x.tm_mon + 1, x.tm_mday, x.tm_hour, x.tm_min,
                        x.tm_sec);
}

/* --- canonical URI ------------------------------------------------------ */

/* RFC 3986 dot-segment removal plus collapsing of empty segments; a
 * trailing slash of the input is kept ("//example//" -> "/example/"). */
static const char *normalize_path(apr_pool_t *p, const char *path)
{
    apr_array_header_t *segs = apr_array_make(p, 8, sizeof(const char *));
    const char *s = path, *e;
    apr_size_t plen = strlen(path);
    int trailing = 0;
    char *out;
    int i;

    while (*s) {
        while (*s == '/') {
            s++;
        }
        if (!*s) {
            break;
        }
        e = strchr(s, '/');
        if (!e) {
            e = s + strlen(s);
        }
        if (e - s == 1 && s[0] == '.') {
            /* skip */
        }
        else if (e - s == 2 && s[0] == '.' && s[1] == '.') {
            if (segs->nelts) {
                segs->nelts--;
            }
        }
        else {
            APR_ARRAY_PUSH(segs, const char *) = apr_pstrmemdup(p, s,
                                                    (apr_size_t)(e - s));
        }
        s = e;
    }
    trailing = plen > 1 && path[plen - 1] == '/';
    out = "/";
    for (i = 0; i < segs->nelts; i++) {
        out = apr_pstrcat(p, out, i ? "/" : "",
                          APR_ARRAY_IDX(segs, i, const char *), NULL);
    }
    if (trailing && segs->nelts) {
        out = apr_pstrcat(p, out, "/", NULL);
    }
    return out;
}

static const char *canonical_uri(apr_pool_t *p, const char *path,
                                 unsigned flags)
{
    if (!path || !*path) {
        path = "/";
    }
    if (flags & WEBOT_SIGV4_NORMALIZE_PATH) {
        path = normalize_path(p, path);
    }
    return webot_sigv4_uri_encode(p, path, strlen(path), 1);
}

/* --- canonical query ---------------------------------------------------- */

typedef struct {
    const char *k;              /* encoded */
    const char *v;
} qparam_t;

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) (a malformed escape is taken literally) and
 * encodes the result canonically. */
static const char *recode(apr_pool_t *p, const char *s, apr_size_t len)
{
    char *d = apr_palloc(p, len + 1);
    apr_size_t i, n = 0;
    for (i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len
            && hexv((unsigned char)s[i + 1]) >= 0
            && hexv((unsigned char)s[i + 2]) >= 0) {
            d[n++] = (char)(hexv((unsigned char)s[i + 1]) << 4
                            | hexv((unsigned char)s[i + 2]));
            i += 2;
        }
        else {
            d[n++] = s[i];
        }
    }
    return webot_sigv4_uri_encode(p, d, n, 0);
}

static void parse_query(apr_pool_t *p, const char *q,
                        apr_array_header_t *out)
{
    while (q && *q) {
        const char *amp = strchr(q, '&'), *eq;
        apr_size_t len = amp ? (apr_size_t)(amp - q) : strlen(q);
        if (len) {
            qparam_t *qp = apr_array_push(out);
            eq = memchr(q, '=', len);
            if (eq) {
                qp->k = recode(p, q, (apr_size_t)(eq - q));
                qp->v = recode(p, eq + 1, len - (apr_size_t)(eq - q) - 1);
            }
            else {
                qp->k = recode(p, q, len);
                qp->v = "";
            }
        }
        q = amp ? amp + 1 : NULL;
    }
}

static int cmp_qparam(const void *a, const void *b)
{
    const qparam_t *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static const char *join_query(apr_pool_t *p, apr_array_header_t *params)
{
    apr_array_header_t *parts;
    int i;
    if (!params->nelts) {
        return "";
    }
    qsort(params->elts, (size_t)params->nelts, sizeof(qparam_t), cmp_qparam);
    parts = apr_array_make(p, params->nelts * 4, sizeof(const char *));
    for (i = 0; i < params->nelts; i++) {
        qparam_t *qp = &APR_ARRAY_IDX(params, i, qparam_t);
        if (i) {
            APR_ARRAY_PUSH(parts, const char *) = "&";
        }
        APR_ARRAY_PUSH(parts, const char *) = qp->k;
        APR_ARRAY_PUSH(parts, const char *) = "=";
        APR_ARRAY_PUSH(parts, const char *) = qp->v;
    }
    return apr_array_pstrcat(p, parts, 0);
}

static void add_qparam(apr_pool_t *p, apr_array_header_t *params,
                       const char *k, const char *v)
{
    qparam_t *qp = apr_array_push(params);
    qp->k = webot_sigv4_uri_encode(p, k, strlen(k), 0);
    qp->v = webot_sigv4_uri_encode(p, v, strlen(v), 0);
}

/* --- canonical headers -------------------------------------------------- */

typedef struct {
    const char *name;           /* lower case */
    const char *value;          /* trimmed, inner whitespace runs as one
                                 * space; duplicates joined with ',' */
    int order;
} hdr_t;

static const char *trim_value(apr_pool_t *p, const char *v)
{
    char *out = apr_palloc(p, strlen(v) + 1), *o = out;
    int space = 0;
    while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
        v++;
    }
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
            space = 1;
            continue;
        }
        if (space && o > out) {
            *o++ = ' ';
        }
        space = 0;
        *o++ = *v;
    }
    *o = '\0';
    return out;
}

static int cmp_hdr(const void *a, const void *b)
{
    const hdr_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->order - y->order;
}

static const char *header_name_lc(apr_pool_t *p, const char *name)
{
    char *n = apr_pstrdup(p, name), *c;
    for (c = n; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return n;
}

/* Sorts and merges hdrs; writes the canonical header block and the signed
 * header list. */
static void canonical_headers(apr_pool_t *p, apr_array_header_t *hdrs,
                              const char **block, const char **signed_list)
{
    apr_array_header_t *b = apr_array_make(p, hdrs->nelts * 4 + 1,
                                           sizeof(const char *));
    apr_array_header_t *s = apr_array_make(p, hdrs->nelts * 2 + 1,
                                           sizeof(const char *));
    int i;

    qsort(hdrs->elts, (size_t)hdrs->nelts, sizeof(hdr_t), cmp_hdr);
    for (i = 0; i < hdrs->nelts; i++) {
        hdr_t *h = &APR_ARRAY_IDX(hdrs, i, hdr_t);
        const char *v = h->value;
        while (i + 1 < hdrs->nelts
               && !strcmp(APR_ARRAY_IDX(hdrs, i + 1, hdr_t).name, h->name)) {
            i++;
            v = apr_pstrcat(p, v, ",", APR_ARRAY_IDX(hdrs, i, hdr_t).value,
                            NULL);
        }
        APR_ARRAY_PUSH(b, const char *) = h->name;
        APR_ARRAY_PUSH(b, const char *) = ":";
        APR_ARRAY_PUSH(b, const char *) = v;
        APR_ARRAY_PUSH(b, const char *) = "\n";
        if (s->nelts) {
            APR_ARRAY_PUSH(s, const char *) = ";";
        }
        APR_ARRAY_PUSH(s, const char *) = h->name;
    }
    *block = apr_array_pstrcat(p, b, 0);
    *signed_list = apr_array_pstrcat(p, s, 0);
}

static void add_hdr(apr_pool_t *p, apr_array_header_t *hdrs,
                    const char *name, const char *value)
{
    hdr_t *h = apr_array_push(hdrs);
    h->name = header_name_lc(p, name);
    h->value = trim_value(p, value ? value : "");
    h->order = hdrs->nelts;
}

/* --- signing --------------------------------------------------------------- */

static void hmac(const unsigned char *key, apr_size_t keylen, const char *msg,
                 unsigned char out[WEBOT_SHA256_LEN])
{
    webot_hmac_sha256(key, keylen, msg, strlen(msg), out);
}

static int valid_method(const char *m)
{
    if (!m || !*m) {
        return 0;
    }
    for (; *m; m++) {
        if (!apr_isupper(*m)) {
            return 0;
        }
    }
    return 1;
}

const char *webot_sigv4_sign(apr_pool_t *p, const webot_sigv4_creds_t *c,
                             const webot_sigv4_request_t *rq, apr_time_t now,
                             int expires, webot_sigv4_result_t *out)
{
    apr_array_header_t *params = apr_array_make(p, 8, sizeof(qparam_t));
    apr_array_header_t *hdrs = apr_array_make(p, rq->nheaders + 4,
                                              sizeof(hdr_t));
    apr_array_header_t *added = apr_array_make(p, 4,
                                               sizeof(webot_sigv4_header_t));
    const char *date, *block, *query, *payload, *creq, *sts;
    unsigned char k[WEBOT_SHA256_LEN], sum[WEBOT_SHA256_LEN];
    char *kinit;
    int i, has_host = 0;
    int token = c->session_token && *c->session_token
                && !(rq->flags & WEBOT_SIGV4_OMIT_TOKEN);

    memset(out, 0, sizeof(*out));
    if (!c->access_key || !*c->access_key || !c->secret_key
        || !*c->secret_key || !c->region || !*c->region || !c->service
        || !*c->service) {
        return "credentials, region and service are required";
    }
    if (!valid_method(rq->method)) {
        return "bad method";
    }
    if (expires < 0 || expires > 604800) {
        return "expires must be 1..604800 seconds";
    }
    payload = rq->payload_hash ? rq->payload_hash : EMPTY_SHA256;
    out->amz_date = webot_sigv4_amz_date(p, now);
    date = apr_pstrmemdup(p, out->amz_date, 8);
    out->scope = apr_pstrcat(p, date, "/", c->region, "/", c->service,
                             "/aws4_request", NULL);

    for (i = 0; i < rq->nheaders; i++) {
        if (!rq->headers[i].name || !*rq->headers[i].name) {
            return "empty header name";
        }
        if (!strcasecmp(rq->headers[i].name, "host")) {
            has_host = 1;
        }
        add_hdr(p, hdrs, rq->headers[i].name, rq->headers[i].value);
    }
    if (!has_host) {
        return "the Host header must be signed";
    }
    parse_query(p, rq->query, params);

    if (expires == 0) {
        webot_sigv4_header_t *h;
        add_hdr(p, hdrs, "X-Amz-Date", out->amz_date);
        h = apr_array_push(added);
        h->name = "X-Amz-Date";
        h->value = out->amz_date;
        if (token) {
            add_hdr(p, hdrs, "X-Amz-Security-Token", c->session_token);
            h = apr_array_push(added);
            h->name = "X-Amz-Security-Token";
            h->value = c->session_token;
        }
        if (rq->flags & WEBOT_SIGV4_CONTENT_SHA256) {
            add_hdr(p, hdrs, "X-Amz-Content-Sha256", payload);
            h = apr_array_push(added);
            h->name = "X-Amz-Content-Sha256";
            h->value = payload;
        }
        canonical_headers(p, hdrs, &block, &out->signed_headers);
    }
    else {
        canonical_headers(p, hdrs, &block, &out->signed_headers);
        add_qparam(p, params, "X-Amz-Algorithm", ALGORITHM);
        add_qparam(p, params, "X-Amz-Credential",
                   apr_pstrcat(p, c->access_key, "/", out->scope, NULL));
        add_qparam(p, params, "X-Amz-Date", out->amz_date);
        add_qparam(p, params, "X-Amz-Expires", apr_itoa(p, expires));
        if (token) {
            add_qparam(p, params, "X-Amz-Security-Token", c->session_token);
        }
        add_qparam(p, params, "X-Amz-SignedHeaders", out->signed_headers);
    }
    query = join_query(p, params);

    creq = apr_pstrcat(p, rq->method, "\n",
                       canonical_uri(p, rq->path, rq->flags), "\n",
                       query, "\n", block, "\n", out->signed_headers, "\n",
                       payload, NULL);
    out->canonical_request = creq;
    webot_sha256(creq, strlen(creq), sum);
    sts = apr_pstrcat(p, ALGORITHM, "\n", out->amz_date, "\n", out->scope,
                      "\n", webot_hex(p, sum, sizeof(sum)), NULL);
    out->string_to_sign = sts;

    kinit = apr_pstrcat(p, "AWS4", c->secret_key, NULL);
    hmac((const unsigned char *)kinit, strlen(kinit), date, k);
    memset(kinit, 0, strlen(kinit));
    hmac(k, sizeof(k), c->region, k);
    hmac(k, sizeof(k), c->service, k);
    hmac(k, sizeof(k), "aws4_request", k);
    hmac(k, sizeof(k), sts, sum);
    memset(k, 0, sizeof(k));
    out->signature = webot_hex(p, sum, sizeof(sum));

    if (expires == 0) {
        webot_sigv4_header_t *h;
        out->authorization = apr_pstrcat(p, ALGORITHM, " Credential=",
            c->access_key, "/", out->scope, ", SignedHeaders=",
            out->signed_headers, ", Signature=", out->signature, NULL);
        if (c->session_token && *c->session_token && !token) {
            h = apr_array_push(added);
            h->name = "X-Amz-Security-Token";
            h->value = c->session_token;
        }
        h = apr_array_push(added);
        h->name = NULL;
        h->value = NULL;
        out->added_headers = (const webot_sigv4_header_t *)added->elts;
    }
    else {
        out->query = apr_pstrcat(p, query, "&X-Amz-Signature=",
                                 out->signature, NULL);
        if (c->session_token && *c->session_token && !token) {
            out->query = apr_pstrcat(p, out->query, "&X-Amz-Security-Token=",
                webot_sigv4_uri_encode(p, c->session_token,
                                       strlen(c->session_token), 0), NULL);
        }
    }
    return NULL;
}
