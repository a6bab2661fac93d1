/* webot_error.h: the contract's error value. Core: built by validation,
 * store and handlers alike, rendered once by the response layer. */
#ifndef WEBOT_ERROR_H
#define WEBOT_ERROR_H

#include <apr_pools.h>
#include <jansson.h>

typedef struct webot_error_t {
    int status;                     /* HTTP status for the code */
    const char *code;               /* e.g. "QUOTA_EXCEEDED" */
    const char *message;            /* human sentence, safe to show */
    const char *param;              /* offending parameter or NULL */
    const char *suggested_action;   /* retry | wait | revise_request | ... */
    const char *suggested_endpoint; /* "GET /api/v1/usage" or NULL */
    json_t *details;                /* array of objects (owned by pool) */
    int retry_after;                /* seconds, 0 = no Retry-After */
} webot_error_t;

typedef struct webot_error_kind_t {
    const char *code;
    int status;
    const char *suggested_action;
    const char *suggested_endpoint;
    const char *when;               /* for docs and OpenAPI */
} webot_error_kind_t;

/* The table of every code (contract section 1), terminated by a NULL code. */
extern const webot_error_kind_t webot_error_kinds[];
const webot_error_kind_t *webot_error_kind(const char *code);

/* A new error of a known code with a printf message; status, action and
 * endpoint from the table. An unknown code becomes INTERNAL_ERROR. */
webot_error_t *webot_error_make(apr_pool_t *p, const char *code,
                                const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends {"param":..,"message":..} to details and sets param if unset. */
void webot_error_add_param(apr_pool_t *p, webot_error_t *e,
                           const char *param, const char *message);

/* The body {"error":{...}}; request_id may be NULL. New reference. */
json_t *webot_error_json(const webot_error_t *e, const char *request_id);

#endif
