/* webot_route.h: the route table, the single source of truth for the
 * dispatcher, the OpenAPI document, the docs page and the MCP tools. Core:
 * the table's handler is an opaque function pointer the glue calls. */
#ifndef WEBOT_ROUTE_H
#define WEBOT_ROUTE_H

#include <apr_pools.h>

/* Where a route is mounted: the handler name an administrator sets per
 * <Location>, and the default location used in the OpenAPI document. */
typedef enum {
    WEBOT_MOUNT_API = 0,        /* SetHandler webot-api, /api/v1 */
    WEBOT_MOUNT_WEBHOOK,        /* webot-stripe-webhook, /api/stripe/webhook */
    WEBOT_MOUNT_CHECKOUT,       /* webot-checkout, /api/checkout/tier */
    WEBOT_MOUNT_COUNT
} webot_mount_e;

typedef enum {
    WEBOT_AUTH_PUBLIC = 0,      /* no credential */
    WEBOT_AUTH_REQUIRED,        /* API key with scope, or session */
    WEBOT_AUTH_SESSION,         /* any dashboard session (logout) */
    WEBOT_AUTH_OWNER,           /* owner/admin session + CSRF */
    WEBOT_AUTH_STRIPE,          /* Stripe-Signature */
    WEBOT_AUTH_UPLOAD           /* signature in the URL */
} webot_auth_e;

/* scopes */
#define WEBOT_SCOPE_ACCOUNT_READ  0x1
#define WEBOT_SCOPE_JOBS_READ     0x2
#define WEBOT_SCOPE_JOBS_WRITE    0x4
#define WEBOT_SCOPE_FILES_WRITE   0x8
#define WEBOT_SCOPE_ALL           0xF

/* flags */
#define WEBOT_RF_ACCOUNT_CONTEXT  0x01  /* answers without entitlement */
#define WEBOT_RF_ETAG             0x02  /* public GET with ETag/304 */
#define WEBOT_RF_BODY_OPTIONAL    0x04  /* empty body allowed ({} implied) */
#define WEBOT_RF_IDEMPOTENCY_REQ  0x08  /* Idempotency-Key required */
#define WEBOT_RF_IDEMPOTENCY_OPT  0x10  /* Idempotency-Key optional */
#define WEBOT_RF_RAW_BODY         0x20  /* handler reads the body itself */
#define WEBOT_RF_SELF_VALIDATE    0x40  /* body parsed, not schema-checked:
                                         * the handler validates (to report
                                         * every problem at once) */

struct webot_req_t;
typedef int (*webot_handler_fn)(struct webot_req_t *wr);

typedef struct webot_param_t {
    const char *name;
    const char *in;             /* "query" | "header" | "path" */
    const char *schema;         /* JSON Schema text */
    const char *description;
} webot_param_t;

typedef struct webot_route_t {
    const char *method;
    webot_mount_e mount;
    const char *path;           /* relative to the mount, "{id}" segments */
    const char *operation_id;   /* camelCase; MCP tool name is derived */
    const char *tag;            /* public, account, jobs, files, keys, billing */
    webot_auth_e auth;
    unsigned scopes;
    unsigned flags;
    const char *summary;
    const char *description;
    const webot_param_t *params;    /* NULL-name terminated, or NULL */
    const char *request_schema;     /* JSON Schema text or NULL */
    const char *request_example;    /* JSON text or NULL */
    int success_status;
    const char *response_schema;    /* JSON Schema text (may $ref) */
    const char *response_example;   /* JSON text */
    const char *const *errors;      /* codes the route can answer */
    const char *mcp_tool;           /* tool name, or NULL: not a tool */
    webot_handler_fn handler;
} webot_route_t;

/* A named schema for components/schemas (NULL-name terminated lists). */
typedef struct webot_named_schema_t {
    const char *name;
    const char *schema;
} webot_named_schema_t;

extern const char *const webot_mount_handler[WEBOT_MOUNT_COUNT];
extern const char *const webot_mount_default[WEBOT_MOUNT_COUNT];

typedef enum {
    WEBOT_MATCH_OK = 0,
    WEBOT_MATCH_NOT_FOUND,
    WEBOT_MATCH_METHOD          /* *allow lists the methods */
} webot_match_e;

/* Matches method and path (relative to the mount) against the routes of
 * `mount` in table[0..n). HEAD matches GET. On OK, *route and *id (the
 * {id} segment or NULL). Ids are 1..64 of [A-Za-z0-9_-]. */
webot_match_e webot_route_match(apr_pool_t *p, const webot_route_t *table,
                                int n, webot_mount_e mount,
                                const char *method, const char *path,
                                const webot_route_t **route,
                                const char **id, const char **allow);

/* Full default path, e.g. "/api/v1/jobs/{id}". */
const char *webot_route_full_path(apr_pool_t *p, const webot_route_t *rt);

#endif
