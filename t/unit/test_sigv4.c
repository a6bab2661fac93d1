/* test_sigv4.c: the AWS Signature V4 signer (mod_webot/webot_sigv4.c)
 * against the official AWS signing test suite (awslabs/aws-c-auth,
 * tests/aws-signing-test-suite/v4; copied under t/unit/sigv4/v4, see the
 * README there) and two examples of the S3 documentation
 * (t/unit/sigv4/s3). For every vector both ways of signing are checked:
 * Authorization header (header-*.txt) and presigned URL (query-*.txt):
 * canonical request, string to sign, signature, and the Authorization value
 * or the parameters of the signed URL.
 *
 * Skipped, and why: the suite's v4a/ vectors. SigV4a (ECDSA P-256 with a
 * derived key pair) is outside the signer's scope: S3 presigned URLs of a
 * single region use SigV4. Every v4/ vector is run.
 *
 * Run from the repository root (make unit does). */
#include "webot_sigv4.h"
#include "webot_util.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_tables.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ntest, nfail;

static void ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s %d - ", cond ? "ok" : "not ok", ++ntest);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        nfail++;
    }
}

static int same(const char *what, const char *got, const char *want)
{
    if (got && want && !strcmp(got, want)) {
        return 1;
    }
    printf("# %s differs\n# --- want\n%s\n# --- got\n%s\n# ---\n", what,
           want ? want : "(missing)", got ? got : "(null)");
    return 0;
}

/* The file's text, or NULL; trailing newlines are not part of it. */
static char *slurp(apr_pool_t *p, const char *dir, const char *name)
{
    char *path = apr_pstrcat(p, dir, "/", name, NULL);
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t len;
    char *buf;
    if (apr_file_open(&f, path, APR_READ | APR_BINARY, 0, p) != APR_SUCCESS) {
        return NULL;
    }
    apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    len = (apr_size_t)fi.size;
    buf = apr_palloc(p, len + 1);
    if (len) {
        apr_file_read_full(f, buf, len, &len);
    }
    apr_file_close(f);
    buf[len] = '\0';
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        buf[--len] = '\0';
    }
    return buf;
}

typedef struct {
    const char *method, *path, *query, *body;
    apr_array_header_t *headers;        /* webot_sigv4_header_t */
} parsed_req_t;

/* request.txt: "METHOD URI HTTP/1.1", "Name:value" lines (a line that
 * starts with white space continues the previous value), an empty line,
 * the body. The URI may contain spaces (get-space). */
static int parse_request(apr_pool_t *p, char *text, parsed_req_t *out)
{
    char *line = text, *next, *sp, *proto, *uri, *q;
    int first = 1;

    out->headers = apr_array_make(p, 8, sizeof(webot_sigv4_header_t));
    out->body = "";
    while (line) {
        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        if (first) {
            first = 0;
            sp = strchr(line, ' ');
            proto = strrchr(line, ' ');
            if (!sp || proto == sp) {
                return -1;
            }
            out->method = apr_pstrmemdup(p, line, (apr_size_t)(sp - line));
            uri = apr_pstrmemdup(p, sp + 1, (apr_size_t)(proto - sp - 1));
            q = strchr(uri, '?');
            if (q) {
                *q = '\0';
                out->query = q + 1;
            }
            out->path = uri;
        }
        else if (!*line) {
            out->body = next ? next : "";
            break;
        }
        else if (*line == ' ' || *line == '\t') {
            webot_sigv4_header_t *h;
            if (!out->headers->nelts) {
                return -1;
            }
            h = &APR_ARRAY_IDX(out->headers, out->headers->nelts - 1,
                               webot_sigv4_header_t);
            h->value = apr_pstrcat(p, h->value, "\n", line, NULL);
        }
        else {
            char *colon = strchr(line, ':');
            webot_sigv4_header_t *h;
            if (!colon) {
                return -1;
            }
            h = apr_array_push(out->headers);
            h->name = apr_pstrmemdup(p, line, (apr_size_t)(colon - line));
            h->value = colon + 1;
        }
        line = next;
    }
    return out->method ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The query of a URL as a sorted, comma-joined list of "name=value" with
 * escapes normalised (to compare parameter sets, not their order). */
static const char *param_set(apr_pool_t *p, const char *query)
{
    apr_array_header_t *a = apr_array_make(p, 8, sizeof(const char *));
    char *q = apr_pstrdup(p, query ? query : ""), *tok, *st;
    int i;
    for (tok = apr_strtok(q, "&", &st); tok; tok = apr_strtok(NULL, "&", &st)) {
        char *eq = strchr(tok, '=');
        char *k = eq ? apr_pstrmemdup(p, tok, (apr_size_t)(eq - tok)) : tok;
        char *v = eq ? eq + 1 : "";
        /* decode %XX, re-encode canonically */
        char *dk = apr_pstrdup(p, k), *dv = apr_pstrdup(p, v);
        apr_size_t lk, lv;
        {
            char *src, *dst;
            for (src = dst = dk; *src; src++) {
                unsigned int c;
                if (*src == '%' && sscanf(src + 1, "%2x", &c) == 1) {
                    *dst++ = (char)c;
                    src += 2;
                }
                else {
                    *dst++ = *src;
                }
            }
            lk = (apr_size_t)(dst - dk);
            for (src = dst = dv; *src; src++) {
                unsigned int c;
                if (*src == '%' && sscanf(src + 1, "%2x", &c) == 1) {
                    *dst++ = (char)c;
                    src += 2;
                }
                else {
                    *dst++ = *src;
                }
            }
            lv = (apr_size_t)(dst - dv);
        }
        APR_ARRAY_PUSH(a, const char *) = apr_pstrcat(p,
            webot_sigv4_uri_encode(p, dk, lk, 0), "=",
            webot_sigv4_uri_encode(p, dv, lv, 0), NULL);
    }
    qsort(a->elts, (size_t)a->nelts, sizeof(const char *), cmp_str);
    for (i = 0, q = ""; i < a->nelts; i++) {
        q = apr_pstrcat(p, q, i ? "," : "", APR_ARRAY_IDX(a, i, const char *),
                        NULL);
    }
    return q;
}

/* The value of "Authorization:" in a signed-request file. */
static const char *authz_of(apr_pool_t *p, const char *signed_req)
{
    const char *a = signed_req ? strstr(signed_req, "\nAuthorization:") : NULL;
    const char *e;
    if (!a) {
        return NULL;
    }
    a += strlen("\nAuthorization:");
    while (*a == ' ') {
        a++;
    }
    e = strchr(a, '\n');
    return e ? apr_pstrmemdup(p, a, (apr_size_t)(e - a)) : apr_pstrdup(p, a);
}

/* The query of the request line of a signed-request file. */
static const char *query_of(apr_pool_t *p, const char *signed_req)
{
    const char *q = signed_req ? strchr(signed_req, '?') : NULL;
    const char *e = q ? strstr(q, " HTTP/") : NULL;
    return e ? apr_pstrmemdup(p, q + 1, (apr_size_t)(e - q - 1)) : "";
}

static void run_vector(apr_pool_t *p, const char *dir, const char *name,
                       int strict)
{
    char *ctx_text = slurp(p, dir, "context.json");
    char *req_text = slurp(p, dir, "request.txt");
    json_error_t je;
    json_t *ctx, *cred;
    parsed_req_t pr;
    webot_sigv4_creds_t c;
    webot_sigv4_request_t rq;
    webot_sigv4_result_t res;
    apr_time_t now;
    unsigned char sum[WEBOT_SHA256_LEN];
    const char *err, *want;
    int mode, sign_body, expires;

    memset(&pr, 0, sizeof(pr));
    if (!ctx_text || !req_text
        || !(ctx = json_loads(ctx_text, 0, &je))
        || parse_request(p, req_text, &pr)) {
        ok(0, "%s: vector files readable and parsable", name);
        return;
    }
    cred = json_object_get(ctx, "credentials");
    memset(&c, 0, sizeof(c));
    c.access_key = json_string_value(json_object_get(cred, "access_key_id"));
    c.secret_key = json_string_value(json_object_get(cred,
                                                     "secret_access_key"));
    c.session_token = json_string_value(json_object_get(cred, "token"));
    c.region = json_string_value(json_object_get(ctx, "region"));
    c.service = json_string_value(json_object_get(ctx, "service"));
    sign_body = json_is_true(json_object_get(ctx, "sign_body"));
    expires = (int)json_integer_value(json_object_get(ctx,
                                                      "expiration_in_seconds"));
    if (webot_time_parse(json_string_value(json_object_get(ctx, "timestamp")),
                         &now)) {
        ok(0, "%s: timestamp parses", name);
        json_decref(ctx);
        return;
    }
    webot_sha256(pr.body, strlen(pr.body), sum);

    for (mode = 0; mode < 2; mode++) {
        const char *pre = mode ? "query" : "header";
        const char *override = json_string_value(json_object_get(ctx,
                                                 "payload_hash"));
        if (!strict && !slurp(p, dir, apr_pstrcat(p, pre, "-signature.txt",
                                                  NULL))) {
            printf("# %s: no %s-signing result published, %s mode not "
                   "checked\n", name, pre, pre);
            continue;
        }
        memset(&rq, 0, sizeof(rq));
        rq.method = pr.method;
        rq.path = pr.path;
        rq.query = pr.query;
        rq.headers = (const webot_sigv4_header_t *)pr.headers->elts;
        rq.nheaders = pr.headers->nelts;
        rq.payload_hash = override ? override : webot_hex(p, sum, sizeof(sum));
        rq.flags = 0;
        if (json_is_true(json_object_get(ctx, "normalize"))) {
            rq.flags |= WEBOT_SIGV4_NORMALIZE_PATH;
        }
        if (json_is_true(json_object_get(ctx, "omit_session_token"))) {
            rq.flags |= WEBOT_SIGV4_OMIT_TOKEN;
        }
        if (sign_body && !mode) {
            rq.flags |= WEBOT_SIGV4_CONTENT_SHA256;
        }
        err = webot_sigv4_sign(p, &c, &rq, now, mode ? expires : 0, &res);
        if (err) {
            ok(0, "%s (%s): signs: %s", name, pre, err);
            continue;
        }
        want = slurp(p, dir, apr_pstrcat(p, pre, "-canonical-request.txt",
                                         NULL));
        if (strict || want) {
            ok(same("canonical request", res.canonical_request, want),
               "%s (%s): canonical request", name, pre);
        }
        want = slurp(p, dir, apr_pstrcat(p, pre, "-string-to-sign.txt",
                                         NULL));
        if (strict || want) {
            ok(same("string to sign", res.string_to_sign, want),
               "%s (%s): string to sign", name, pre);
        }
        want = slurp(p, dir, apr_pstrcat(p, pre, "-signature.txt", NULL));
        ok(same("signature", res.signature, want),
           "%s (%s): signature", name, pre);
        want = slurp(p, dir, apr_pstrcat(p, pre, "-signed-request.txt",
                                          NULL));
        if (!strict && !want) {
            /* the S3 examples publish no signed request */
        }
        else if (!mode) {
            ok(same("Authorization", res.authorization, authz_of(p, want)),
               "%s (header): Authorization value", name);
        }
        else {
            ok(same("signed URL parameters", param_set(p, res.query),
                    param_set(p, query_of(p, want))),
               "%s (query): parameters of the signed URL", name);
        }
    }
    json_decref(ctx);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void run_suite(apr_pool_t *p, const char *root, int strict,
                      int *nvec)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_array_header_t *names = apr_array_make(p, 64, sizeof(const char *));
    int i;

    if (apr_dir_open(&d, root, p) != APR_SUCCESS) {
        ok(0, "vector directory %s exists", root);
        return;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        if (fi.filetype == APR_DIR && fi.name[0] != '.') {
            APR_ARRAY_PUSH(names, const char *) = apr_pstrdup(p, fi.name);
        }
    }
    apr_dir_close(d);
    qsort(names->elts, (size_t)names->nelts, sizeof(const char *), cmp_name);
    for (i = 0; i < names->nelts; i++) {
        const char *n = APR_ARRAY_IDX(names, i, const char *);
        apr_pool_t *sub;
        apr_pool_create(&sub, p);
        run_vector(sub, apr_pstrcat(sub, root, "/", n, NULL), n, strict);
        apr_pool_destroy(sub);
        (*nvec)++;
    }
}

/* The path and query encoders on their own. */
static void test_encoding(apr_pool_t *p)
{
    ok(!strcmp(webot_sigv4_uri_encode(p, "a b/c~d", 7, 1), "a%20b/c~d"),
       "uri_encode keeps unreserved and '/' when asked");
    ok(!strcmp(webot_sigv4_uri_encode(p, "a/b=c;d", 7, 0), "a%2Fb%3Dc%3Bd"),
       "uri_encode encodes '/', '=', ';' in query components");
    ok(!strcmp(webot_sigv4_uri_encode(p, "\xE1\x88\xB4", 3, 0), "%E1%88%B4"),
       "uri_encode encodes UTF-8 bytes in upper-case hex");
    ok(!strcmp(webot_sigv4_amz_date(p, apr_time_from_sec(1440938160)),
               "20150830T123600Z"), "amz date format");
}

/* Bad arguments are refused, not signed. */
static void test_refusals(apr_pool_t *p)
{
    webot_sigv4_creds_t c = { "AKID", "secret", NULL, "us-east-1", "s3" };
    webot_sigv4_header_t h[] = { { "Host", "example.com" } };
    webot_sigv4_request_t rq = { "GET", "/", NULL, h, 1, NULL, 0 };
    webot_sigv4_result_t res;
    apr_time_t now = apr_time_from_sec(1440938160);

    ok(webot_sigv4_sign(p, &c, &rq, now, 604801, &res) != NULL,
       "expires over 7 days is refused");
    ok(webot_sigv4_sign(p, &c, &rq, now, -1, &res) != NULL,
       "negative expires is refused");
    rq.nheaders = 0;
    ok(webot_sigv4_sign(p, &c, &rq, now, 60, &res) != NULL,
       "a request without a signed Host header is refused");
    rq.nheaders = 1;
    c.secret_key = "";
    ok(webot_sigv4_sign(p, &c, &rq, now, 60, &res) != NULL,
       "empty secret key is refused");
    c.secret_key = "secret";
    rq.method = "get";
    ok(webot_sigv4_sign(p, &c, &rq, now, 60, &res) != NULL,
       "a lower-case method is refused");
}

static const char *data_root(apr_pool_t *p)
{
    const char *top = getenv("WEBOT_TOP");
    apr_finfo_t fi;
    if (top) {
        return apr_pstrcat(p, top, "/t/unit/sigv4", NULL);
    }
    if (apr_stat(&fi, "t/unit/sigv4", APR_FINFO_TYPE, p) == APR_SUCCESS) {
        return "t/unit/sigv4";
    }
    return "sigv4";
}

int main(void)
{
    apr_pool_t *p;
    const char *root;
    int nv4 = 0, ns3 = 0;

    apr_initialize();
    apr_pool_create(&p, NULL);
    root = data_root(p);

    test_encoding(p);
    test_refusals(p);
    run_suite(p, apr_pstrcat(p, root, "/v4", NULL), 1, &nv4);
    run_suite(p, apr_pstrcat(p, root, "/s3", NULL), 0, &ns3);
    ok(nv4 >= 38, "all %d vectors of the AWS v4 suite were run", nv4);
    ok(ns3 >= 5, "%d examples of the S3 documentation were run", ns3);
    printf("# skipped: the suite's v4a/ vectors (SigV4a / ECDSA, not "
           "implemented; S3 presigned URLs use SigV4)\n");
    printf("1..%d\n", ntest);
    apr_pool_destroy(p);
    apr_terminate();
    return nfail ? 1 : 0;
}
