/* mod_webot.h: the httpd glue's private header (config, the per-request
 * context handlers receive, the response layer). Only mod_webot*.c include
 * it; the core (webot_*.c) never sees request_rec. */
#ifndef MOD_WEBOT_H
#define MOD_WEBOT_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_dbd.h>
#include <mod_dbd.h>

#include "webot_catalog.h"
#include "webot_error.h"
#include "webot_json.h"
#include "webot_route.h"
#include "webot_schema.h"
#include "webot_store.h"
#include "webot_util.h"

#ifndef WEBOT_MODULE_RECORD_FILE   /* mod_webot.c declares the module */
APLOG_USE_MODULE(webot);
#endif
extern module AP_MODULE_DECLARE_DATA webot_module;

#define WEBOT_UNSET -1

typedef struct webot_srv_cfg {
    const char *catalog_file;
    webot_catalog_t *catalog;
    const char *secret_file;
    const unsigned char *secret;
    apr_size_t secret_len;
    apr_off_t max_body;             /* WebotMaxBodyBytes */
} webot_srv_cfg;

typedef struct webot_dir_cfg {
    const char *location;           /* the <Location> path, no trailing / */
} webot_dir_cfg;

/* Who is calling, set by the access gate (mod_webot_auth.c) on every
 * non-public route before the handler runs. */
typedef enum {
    WEBOT_AUTHN_NONE = 0,
    WEBOT_AUTHN_API_KEY,
    WEBOT_AUTHN_SESSION
} webot_authn_e;

typedef struct webot_auth_t {
    webot_authn_e method;
    const char *account_id;
    const char *account_name;
    const char *account_created_at;     /* RFC 3339 */
    const char *key_id;                 /* API key, else NULL */
    const char *key_prefix;
    const char *user_id;                /* session, else NULL */
    const char *email;
    const char *role;                   /* owner | admin | member | NULL */
    const char *session_id;
    unsigned scopes;                    /* WEBOT_SCOPE_* granted */
    /* the entitlement as of this request */
    const char *ent_status;             /* active|trialing|past_due|canceled|none */
    const char *ent_source;             /* stripe | manual | NULL */
    const webot_plan_t *plan;           /* NULL when none */
    unsigned access;                    /* WEBOT_ACCESS_* usable now */
    int monthly_jobs;                   /* effective limits (overrides */
    int max_active_jobs;                /*  applied); 0 without a plan */
    int max_revisions;
    int rate_limit_per_minute;
    apr_time_t period_start;            /* the current quota period */
    apr_time_t period_end;              /*  (0 without an entitlement) */
    /* added by identity (mod_webot_auth.c) */
    int quota_used;                     /* used in that period (at auth) */
    long long max_upload_bytes;         /* the plan's; 0 without a plan */
    unsigned plan_access;               /* WEBOT_ACCESS_* of the plan */
    int ent_usable;                     /* the entitlement grants now */
    const char *ent_why;                /* why not, a sentence, or NULL */
    apr_time_t ent_expires_at;          /* manual --days grant, or 0 */
    apr_time_t ent_updated_at;          /* 0 without an entitlement */
    int rl_counted;                     /* this request was counted */
    int rl_limit, rl_remaining, rl_reset;
} webot_auth_t;

/* What a handler gets: the request, its matched route and the pieces the
 * dispatcher has already checked. */
typedef struct webot_req_t {
    request_rec *r;
    apr_pool_t *p;                  /* r->pool */
    webot_srv_cfg *sc;
    const webot_route_t *route;
    const char *id;                 /* the {id} path segment or NULL */
    const char *request_id;
    json_t *body;                   /* validated JSON body or NULL */
    const char *raw_body;           /* the bytes it came from */
    apr_size_t raw_len;
    webot_auth_t *auth;             /* set by the gate; NULL if public */
    webot_db_t *db;                 /* see webot_req_db() */
    ap_dbd_t *dbd;
    int attempt;                    /* 0, or 1 on the retry after a lost
                                     * database connection */
    int sent;                       /* a response was produced */
    struct webot_capture_t *capture; /* set: responses are kept here, not
                                      * sent (MCP tool calls run a route
                                      * in-process, mod_webot_agents.c) */
    struct webot_req_t *held_prev;  /* the process's list of contexts that */
    struct webot_req_t *held_next;  /* hold a connection (mod_webot.c) */
} webot_req_t;

/* A response captured instead of sent (see webot_req_t.capture). */
typedef struct webot_capture_t {
    int status;
    const char *ctype;
    const char *body;               /* NUL-terminated copy */
    apr_size_t len;
} webot_capture_t;

/* Returned by a handler (through webot_send_error) when the database
 * connection was lost before anything was sent: the dispatcher releases the
 * connection and runs the handler once more on a fresh one. */
#define WEBOT_AGAIN (-4242)

/* --- mod_webot_io.c: responses and bodies --------------------------- */

/* Sends body as JSON with status; common headers added. Returns OK. */
int webot_send_json(webot_req_t *wr, int status, json_t *body);
/* Sends bytes with a content type; with an etag, answers If-None-Match
 * with 304. Returns OK. */
int webot_send_bytes(webot_req_t *wr, int status, const char *ctype,
                     const char *body, apr_size_t len, const char *etag);
/* Sends the contract's error body (and logs 5xx). Returns OK, or
 * WEBOT_AGAIN when the failure was a lost connection that may be retried. */
int webot_send_error(webot_req_t *wr, const webot_error_t *e);
/* Shorthand: webot_send_error(wr, webot_error_make(...)). */
int webot_fail(webot_req_t *wr, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads a bounded JSON body (415/413/400 as the contract says) into
 * wr->body / wr->raw_body. Returns NULL or the error. */
webot_error_t *webot_read_json_body(webot_req_t *wr);
/* Every request body of the API is a JSON object: another root (an array,
 * a string, null, none) is 422 VALIDATION_ERROR, not bad JSON. NULL when
 * wr->body is an object. */
webot_error_t *webot_body_object_error(webot_req_t *wr);
/* Reads a raw body of at most max bytes (413 beyond). */
webot_error_t *webot_read_raw_body(webot_req_t *wr, apr_off_t max);

/* The request's database connection (acquired once). NULL and *err
 * (503) when none can be had. */
webot_db_t *webot_req_db(webot_req_t *wr, webot_error_t **err);
/* Gives the connection back (the dispatcher's retry). */
void webot_req_db_release(webot_req_t *wr);

/* Decoded query arguments (last one wins); NULL values for bare names. */
apr_table_t *webot_query(webot_req_t *wr);

/* --- mod_webot.c: shared config parsers ------------------------------ */
const char *webot_read_secret_file(apr_pool_t *p, const char *directive,
                                   const char *path,
                                   const unsigned char **out,
                                   apr_size_t *outlen, apr_size_t minlen);
const char *webot_parse_directive_int(apr_pool_t *p, const char *directive,
                                      const char *arg, long long min,
                                      long long max, long long *out);

/* --- mod_webot_auth.c: the access gate ------------------------------- */
/* Authenticates and authorizes a non-public route. Returns OK to go on,
 * or the result of sending the refusal (401/403/429). */
int webot_access_check(webot_req_t *wr);
/* The authorization half alone, for a caller already authenticated in
 * wr->auth (an in-process call of another route, e.g. an MCP tool): route
 * kind and role, scope, entitlement. No rate-limit count. Returns OK or the
 * result of sending the refusal (403). */
int webot_access_authorize(webot_req_t *wr);
/* Hooks and directives of identity and access (sessions, rate limits):
 * called from webot_register_hooks; the directives sit in webot_cmds[]. */
void webot_auth_register_hooks(apr_pool_t *p);
const char *webot_set_ratelimit_cache(cmd_parms *cmd, void *d,
                                      const char *arg);
const char *webot_set_session_idle(cmd_parms *cmd, void *d, const char *arg);
const char *webot_set_session_lifetime(cmd_parms *cmd, void *d,
                                       const char *arg);
#define WEBOT_AUTH_CMDS \
    AP_INIT_TAKE1("WebotRateLimitCache", webot_set_ratelimit_cache, NULL, \
                  RSRC_CONF, "socache for rate limits: provider[:args] " \
                  "(default shmcb when loaded), or none (per process)"), \
    AP_INIT_TAKE1("WebotSessionIdleTimeout", webot_set_session_idle, \
                  NULL, RSRC_CONF, "seconds a dashboard session lives " \
                  "without use (default 1800)"), \
    AP_INIT_TAKE1("WebotSessionLifetime", webot_set_session_lifetime, \
                  NULL, RSRC_CONF, "absolute lifetime of a dashboard " \
                  "session in seconds (default 43200)")
/* How long past_due keeps access (billing: WebotPastDueGrace sets it). */
extern apr_interval_time_t webot_past_due_grace;

/* --- mod_webot_routes.c: the table --------------------------------- */
extern const webot_route_t webot_routes[];
extern const int webot_routes_count;
extern const webot_named_schema_t webot_components[];

/* Parsed once at start-up: the request schema of each route. */
const json_t *webot_route_request_schema(const webot_route_t *rt);
/* The OpenAPI document, built once at start-up. */
const char *webot_openapi_json(apr_size_t *len, const char **etag);
apr_status_t webot_routes_init(apr_pool_t *pconf, server_rec *s);


#endif
