/* webot_mcp.h: the Model Context Protocol core (no httpd): JSON-RPC 2.0
 * envelopes, protocol-version negotiation, the tool list generated from the
 * OpenAPI document (itself built from the route table), the mapping of tool
 * arguments onto a route's path id, query, Idempotency-Key and body, and
 * tool results made from a route's JSON answer. The glue
 * (mod_webot_agents.c) runs the mapped route in-process. Core. */
#ifndef WEBOT_MCP_H
#define WEBOT_MCP_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>

#include "webot_error.h"

/* JSON-RPC 2.0 error codes. */
#define WEBOT_RPC_PARSE_ERROR       (-32700)
#define WEBOT_RPC_INVALID_REQUEST   (-32600)
#define WEBOT_RPC_METHOD_NOT_FOUND  (-32601)
#define WEBOT_RPC_INVALID_PARAMS    (-32602)
#define WEBOT_RPC_INTERNAL_ERROR    (-32603)

/* Most elements a batch may hold. */
#define WEBOT_MCP_MAX_BATCH 32

/* Protocol versions this server speaks, newest first, NULL-terminated. */
extern const char *const webot_mcp_versions[];
/* The version assumed when a request names none (the transport spec's
 * rule for a missing MCP-Protocol-Version header). */
#define WEBOT_MCP_DEFAULT_VERSION "2025-03-26"

int webot_mcp_version_supported(const char *v);
/* The version to answer an initialize with: the client's when supported,
 * else our newest. */
const char *webot_mcp_negotiate(const char *requested);
/* JSON-RPC batches exist up to 2025-03-26 and were removed in 2025-06-18. */
int webot_mcp_version_allows_batch(const char *v);

/* --- JSON-RPC envelopes ---------------------------------------------- */

typedef enum {
    WEBOT_MCP_REQUEST = 0,      /* method + id: needs an answer */
    WEBOT_MCP_NOTIFICATION,     /* method, no id: 202, no answer */
    WEBOT_MCP_RESPONSE,         /* result/error from the client: ignored */
    WEBOT_MCP_INVALID           /* answer -32600 with id (or null) */
} webot_mcp_kind_e;

typedef struct webot_mcp_msg_t {
    webot_mcp_kind_e kind;
    json_t *id;                 /* string or integer; NULL when none */
    const char *method;
    json_t *params;             /* object or NULL (borrowed) */
    const char *problem;        /* INVALID: why */
} webot_mcp_msg_t;

/* Classifies one JSON value (borrowed; must outlive m). */
void webot_mcp_classify(json_t *v, webot_mcp_msg_t *m);

/* Parses a POST body: one message or a batch (array). Returns 0 with
 * msgs, n and batch (the parsed value is owned by p), or a JSON-RPC error
 * code (PARSE_ERROR for bad JSON, bad UTF-8, duplicate keys; INVALID_REQUEST
 * for an empty or oversized batch or a non-object) with *why. */
int webot_mcp_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                    webot_mcp_msg_t **msgs, int *n, int *batch,
                    const char **why);

/* {"jsonrpc":"2.0","id":id,"result":result} (steals result; id borrowed,
 * NULL = null). New reference. */
json_t *webot_mcp_result(json_t *id, json_t *result);
/* {"jsonrpc":"2.0","id":id,"error":{"code","message"[,"data"]}} (steals
 * data). New reference. */
json_t *webot_mcp_error(json_t *id, int code, const char *message,
                        json_t *data);

/* --- tools ------------------------------------------------------------- */

typedef enum {
    WEBOT_MCP_IDEM_NONE = 0,
    WEBOT_MCP_IDEM_OPTIONAL,
    WEBOT_MCP_IDEM_REQUIRED
} webot_mcp_idem_e;

typedef struct webot_mcp_tool_t {
    const char *name;           /* [a-z_], unique */
    const char *operation_id;   /* the route it runs */
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* "/api/v1/jobs/{id}" */
    int has_id;                 /* argument "id" fills {id} */
    webot_mcp_idem_e idempotency;   /* argument "idempotency_key" */
    int has_body;               /* the route takes a JSON body */
    apr_array_header_t *query;  /* const char *: query parameter names */
    apr_array_header_t *body;   /* const char *: body property names */
} webot_mcp_tool_t;

typedef struct webot_mcp_toolset_t {
    apr_array_header_t *tools;  /* webot_mcp_tool_t */
    json_t *list;               /* the tools/list "tools" array (owned) */
} webot_mcp_toolset_t;

/* Builds the tool set from an OpenAPI document: one tool per operation
 * with "x-mcp-tool". inputSchema merges the path id, the query parameters,
 * Idempotency-Key (as idempotency_key) and the request body's properties
 * into one object schema with additionalProperties false; outputSchema is
 * the success response's schema with component $refs inlined, or that of
 * the contract's error body (a failed call's structuredContent). NULL and
 * *err on a problem (bad or duplicate tool name, an argument name used
 * twice, a $ref that does not resolve). */
webot_mcp_toolset_t *webot_mcp_tools_build(apr_pool_t *p,
                                           const json_t *openapi,
                                           const char **err);
const webot_mcp_tool_t *webot_mcp_tool_find(const webot_mcp_toolset_t *ts,
                                            const char *name);

/* A deep copy of schema with "#/components/schemas/NAME" references of
 * doc replaced by their (inlined) targets. NULL and *err on a reference
 * that does not resolve or nests deeper than 32. New reference. */
json_t *webot_mcp_inline_refs(const json_t *schema, const json_t *doc,
                              const char **err);

/* Is s a valid tool name: 1..64 of [a-z_], starting with a letter? */
int webot_mcp_tool_name_valid(const char *s);

/* A tool call mapped onto its route. */
typedef struct webot_mcp_call_t {
    const char *id;             /* {id} or NULL */
    const char *query;          /* "a=1&b=x%20y" or NULL */
    const char *idempotency_key;/* or NULL */
    json_t *body;               /* object (owned by p) or NULL */
    const char *uri;            /* the path with {id} filled in */
} webot_mcp_call_t;

/* Maps arguments (an object, or NULL for none) onto the route. Returns
 * NULL, or the contract error the call answers with: VALIDATION_ERROR for
 * an unknown argument, a missing id or a value of the wrong type;
 * NOT_FOUND for an id that no resource can have. */
webot_error_t *webot_mcp_call_map(apr_pool_t *p, const webot_mcp_tool_t *t,
                                  const json_t *args, webot_mcp_call_t *out);

/* The tools/call result for a route's answer: structuredContent (the JSON
 * object answered) and the same JSON as a text block; isError for any
 * status outside 2xx. New reference. */
json_t *webot_mcp_tool_result(int status, const char *body, apr_size_t len);

/* --- transport --------------------------------------------------------- */

/* Same-origin check of an Origin header against the request's Host:
 * scheme must be https when `https`, else http; host and port must match
 * (default ports normalized, case-insensitive). 1 when acceptable. */
int webot_mcp_origin_ok(apr_pool_t *p, const char *origin, const char *host,
                        int https);

#endif
