/* webot_sigv4.h: AWS Signature Version 4 (HMAC-SHA256): canonical request,
 * string to sign, signature, and the two ways to carry it: an Authorization
 * header or a presigned URL (X-Amz-* query parameters). Proven against the
 * AWS signing test suite (t/unit/test_sigv4.c, t/unit/sigv4/). Core: APR
 * and libcrypto only. */
#ifndef WEBOT_SIGV4_H
#define WEBOT_SIGV4_H

#include <apr_pools.h>
#include <apr_time.h>

typedef struct webot_sigv4_header_t {
    const char *name;
    const char *value;
} webot_sigv4_header_t;

typedef struct webot_sigv4_creds_t {
    const char *access_key;
    const char *secret_key;
    const char *session_token;      /* NULL without temporary credentials */
    const char *region;             /* "us-east-1" */
    const char *service;            /* "s3" */
} webot_sigv4_creds_t;

/* Remove dot segments and repeated slashes from the path before encoding
 * (every service except S3, which signs the key as it is). */
#define WEBOT_SIGV4_NORMALIZE_PATH  0x1
/* Header signing: add and sign x-amz-content-sha256 (S3 wants it). */
#define WEBOT_SIGV4_CONTENT_SHA256  0x2
/* The session token is added after signing and is not signed (services
 * that want it so; the suite's post-sts-header-after). */
#define WEBOT_SIGV4_OMIT_TOKEN      0x4

typedef struct webot_sigv4_request_t {
    const char *method;             /* "GET", "PUT", ... */
    const char *path;               /* decoded path ("/bucket/key"); every
                                     * byte outside A-Za-z0-9-._~/ is
                                     * percent-encoded once */
    const char *query;              /* raw query string without '?' (its
                                     * %XX escapes are decoded, then every
                                     * name and value encoded canonically),
                                     * or NULL */
    const webot_sigv4_header_t *headers;    /* headers to sign, Host
                                             * included; names any case */
    int nheaders;
    const char *payload_hash;       /* lowercase hex SHA-256 of the body,
                                     * "UNSIGNED-PAYLOAD", or NULL for the
                                     * hash of an empty body */
    unsigned flags;                 /* WEBOT_SIGV4_* */
} webot_sigv4_request_t;

typedef struct webot_sigv4_result_t {
    const char *amz_date;           /* "20150830T123600Z" */
    const char *scope;              /* "20150830/us-east-1/s3/aws4_request" */
    const char *signed_headers;     /* "host;x-amz-date" */
    const char *canonical_request;
    const char *string_to_sign;
    const char *signature;          /* lowercase hex */
    /* header signing: the Authorization value, and the headers the signer
     * added that the request must carry (X-Amz-Date, ...), NULL-name
     * terminated */
    const char *authorization;
    const webot_sigv4_header_t *added_headers;
    /* presigning: the complete query string for the URL (the request's own
     * parameters, the X-Amz-* ones and X-Amz-Signature), canonical order */
    const char *query;
} webot_sigv4_result_t;

/* Signs a request at time `now`. With expires > 0 the signature goes into
 * the query (a presigned URL valid for `expires` seconds, 1..604800);
 * with expires == 0 into an Authorization header. Returns NULL on success,
 * else a short message (bad argument). All memory from p. */
const char *webot_sigv4_sign(apr_pool_t *p, const webot_sigv4_creds_t *c,
                             const webot_sigv4_request_t *rq, apr_time_t now,
                             int expires, webot_sigv4_result_t *out);

/* Percent-encodes len bytes of s the SigV4 way (unreserved characters
 * A-Za-z0-9-._~ kept, everything else %XX upper case); '/' kept when
 * keep_slash. */
char *webot_sigv4_uri_encode(apr_pool_t *p, const char *s, apr_size_t len,
                             int keep_slash);

/* "YYYYMMDDTHHMMSSZ" of t. */
char *webot_sigv4_amz_date(apr_pool_t *p, apr_time_t t);

#endif
