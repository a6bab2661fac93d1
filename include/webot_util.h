/* webot_util.h: ids, hashes, HMAC, encodings, time and token syntax.
 * Core: depends only on APR and OpenSSL's libcrypto. */
#ifndef WEBOT_UTIL_H
#define WEBOT_UTIL_H

#include <apr_pools.h>
#include <apr_time.h>

#define WEBOT_SHA256_LEN 32

/* A new opaque id: prefix + 26 characters of base32 from 128 random bits
 * (e.g. "job_" + "k3v..."). Returns NULL if the system RNG fails. */
const char *webot_id_new(apr_pool_t *p, const char *prefix);

/* A random secret token: prefix + base62-ish text carrying `bits` bits
 * (rounded up to whole bytes) of apr_generate_random_bytes. NULL on RNG
 * failure. Used for API keys ("wbt_", 192 bits), session cookies, CSRF. */
const char *webot_token_new(apr_pool_t *p, const char *prefix, int bits);

/* Display prefix of an API key: "wbt_…" + last four characters. */
const char *webot_key_display(apr_pool_t *p, const char *plaintext);

void webot_sha256(const void *data, apr_size_t len,
                  unsigned char out[WEBOT_SHA256_LEN]);
/* HMAC-SHA256; returns 0 on success. */
int webot_hmac_sha256(const void *key, apr_size_t keylen,
                      const void *data, apr_size_t len,
                      unsigned char out[WEBOT_SHA256_LEN]);
/* Constant-time equality of two buffers of the same length; returns 1 when
 * equal. Buffers of different length compare unequal (length is public). */
int webot_ct_equal(const void *a, apr_size_t alen,
                   const void *b, apr_size_t blen);

char *webot_hex(apr_pool_t *p, const unsigned char *buf, apr_size_t len);
/* Decodes lowercase/uppercase hex; returns bytes written or -1. */
long webot_unhex(const char *hex, unsigned char *out, apr_size_t outmax);
char *webot_b64url(apr_pool_t *p, const unsigned char *buf, apr_size_t len);
/* Returns decoded length or -1 on bad input. */
long webot_unb64url(apr_pool_t *p, const char *in, unsigned char **out);

/* RFC 3339 UTC with Z and whole seconds, or with microseconds when
 * `micro` is non-zero (used where ordering matters, e.g. cursors). */
char *webot_time_rfc3339(apr_pool_t *p, apr_time_t t, int micro);
/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm)"; returns 0 on success. */
int webot_time_parse(const char *s, apr_time_t *out);

/* X-Request-Id and Idempotency-Key syntax: [A-Za-z0-9._:-], with length
 * 1..128 and 16..128 respectively. */
int webot_request_id_valid(const char *s);
int webot_idempotency_key_valid(const char *s);
/* Strict decimal integer parse with range check; returns 0 on success. */
int webot_parse_int(const char *s, long long min, long long max,
                    long long *out);

#endif
