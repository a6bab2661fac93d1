/* webot_executor.h: the HTTP executor protocol of the job worker. Core: no
 * httpd; libcurl, jansson and libcrypto only.
 *
 * The worker POSTs a JSON brief of the job to the executor URL with
 *   X-Webot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>
 * and the executor answers 200 with
 *   {"deliverable":{"summary","text","files"},"review_required":bool}.
 * 4xx (except 408 and 429) is a permanent failure; 5xx, 408, 429,
 * timeouts and connection errors are retried by the worker. A call is one
 * CURL easy handle, driven by the caller's multi handle. */
#ifndef WEBOT_EXECUTOR_H
#define WEBOT_EXECUTOR_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <curl/curl.h>
#include <jansson.h>

#include "webot_store_worker.h"

#define WEBOT_EXEC_SIG_HEADER "X-Webot-Signature"

/* "t=<t>,v1=<64 hex>" for body at time t (unix seconds). */
const char *webot_exec_signature(apr_pool_t *p, const unsigned char *secret,
                                 apr_size_t secret_len, long long t,
                                 const char *body, apr_size_t len);

/* Verifies a signature header as an executor would: some v1 matches (in
 * constant time) and |now - t| <= tolerance seconds. Returns 1 if valid. */
int webot_exec_signature_verify(const char *header,
                                const unsigned char *secret,
                                apr_size_t secret_len, const char *body,
                                apr_size_t len, long long now,
                                long long tolerance);

/* The brief (compact JSON) of a claimed job:
 * {"id","attempt","service_family","service_option","title","intake",
 *  "metadata","revision":{"number","notes"},"files":[...],"created_at",
 *  "sent_at"}. files is the JSON array of the job's files with their
 * signed download URLs (mod_webot_files.h: webot_files_brief), or NULL. */
char *webot_exec_brief(apr_pool_t *p, const webot_wjob_t *job,
                       const json_t *files, long long sent_at);

typedef struct webot_exec_opts_t {
    const char *url;                /* http:// or https:// */
    const unsigned char *secret;
    apr_size_t secret_len;
    long connect_timeout_ms;
    long total_timeout_ms;
    long stall_secs;                /* no byte for this long: stalled */
    apr_size_t max_response;        /* bytes of body kept at most */
    const char *user_agent;
} webot_exec_opts_t;

typedef enum {
    WEBOT_EXEC_OK = 0,              /* a valid deliverable */
    WEBOT_EXEC_PERMANENT,           /* do not retry: staff */
    WEBOT_EXEC_RETRY                /* retry with backoff */
} webot_exec_outcome_e;

typedef struct webot_exec_call_t webot_exec_call_t;

/* A POST of body to o->url, signed at time now, ready to be added to a
 * multi handle. The call's memory comes from p; the easy handle is cleaned
 * up with p (or by webot_exec_call_destroy). NULL with *err on failure. */
webot_exec_call_t *webot_exec_call_create(apr_pool_t *p,
                                          const webot_exec_opts_t *o,
                                          const char *job_id, int attempt,
                                          const char *body, apr_size_t len,
                                          long long now, const char **err);
CURL *webot_exec_call_easy(webot_exec_call_t *c);
/* The CURL easy handle's owner (CURLOPT_PRIVATE). */
webot_exec_call_t *webot_exec_call_of(CURL *easy);
/* A pointer of the caller's, kept with the call. */
void webot_exec_call_set_user(webot_exec_call_t *c, void *user);
void *webot_exec_call_user(webot_exec_call_t *c);
/* Classifies a finished transfer (cc from CURLMSG_DONE). On OK,
 * *deliverable is the normalised deliverable JSON text and *review_required
 * the executor's flag; otherwise *why is a short staff-only reason. */
webot_exec_outcome_e webot_exec_call_result(webot_exec_call_t *c,
                                            CURLcode cc, apr_pool_t *p,
                                            const char **deliverable,
                                            int *review_required,
                                            const char **why);
/* Cleans the easy handle up now (remove it from its multi first). */
void webot_exec_call_destroy(webot_exec_call_t *c);

/* Classifies an executor answer (HTTP status and body), as
 * webot_exec_call_result does after a completed transfer. */
webot_exec_outcome_e webot_exec_classify(apr_pool_t *p, long http_status,
                                         const char *body, apr_size_t len,
                                         const char **deliverable,
                                         int *review_required,
                                         const char **why);

#endif
