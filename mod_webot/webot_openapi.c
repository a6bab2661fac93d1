/* webot_openapi.c: the OpenAPI 3.1 document from the route table. */
#include "webot_openapi.h"
#include "webot_error.h"
#include "webot_json.h"
#include "webot_mcp.h"

#include <apr_strings.h>
#include <string.h>

const webot_tag_t webot_tags[] = {
    { "public", "No credential needed: catalog, plans, intent check, "
      "health, this document." },
    { "account", "Account context: who you are, your entitlement, usage, "
      "dashboard sign-in." },
    { "jobs", "Create jobs with idempotency, follow them through their "
      "events, approve, cancel or ask for a revision." },
    { "files", "Upload contracts for job inputs." },
    { "keys", "API keys (owner/admin dashboard session)." },
    { "billing", "Stripe checkout and webhook." },
    { "agents", "The Model Context Protocol endpoint for AI agents." },
    { NULL, NULL }
};

typedef struct {
    apr_pool_t *p;
    const char *err;
} build_t;

static json_t *parse(build_t *b, const char *what, const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j && !b->err) {
        b->err = apr_psprintf(b->p, "%s: %s", what, je.text);
    }
    return j;
}

static json_t *security_of(const webot_route_t *rt)
{
    switch (rt->auth) {
    case WEBOT_AUTH_PUBLIC:
    case WEBOT_AUTH_UPLOAD:
        return json_array();
    case WEBOT_AUTH_REQUIRED:
        return json_pack("[{s:[]},{s:[],s:[]}]", "bearerKey",
                         "sessionCookie", "csrfToken");
    case WEBOT_AUTH_SESSION:
        return json_pack("[{s:[],s:[]}]", "sessionCookie", "csrfToken");
    case WEBOT_AUTH_OWNER:
        return json_pack("[{s:[],s:[]}]", "sessionCookie", "csrfToken");
    case WEBOT_AUTH_STRIPE:
        return json_pack("[{s:[]}]", "stripeSignature");
    }
    return json_array();
}

static const char *scopes_text(apr_pool_t *p, unsigned scopes)
{
    const char *s = NULL;
    static const struct { unsigned bit; const char *name; } names[] = {
        { WEBOT_SCOPE_ACCOUNT_READ, "account:read" },
        { WEBOT_SCOPE_JOBS_READ, "jobs:read" },
        { WEBOT_SCOPE_JOBS_WRITE, "jobs:write" },
        { WEBOT_SCOPE_FILES_WRITE, "files:write" } };
    unsigned i;
    for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
        if (scopes & names[i].bit) {
            s = s ? apr_pstrcat(p, s, ", ", names[i].name, NULL)
                  : names[i].name;
        }
    }
    return s;
}

static json_t *error_responses(build_t *b, const webot_route_t *rt)
{
    json_t *out = json_object();
    const char *const *c;

    for (c = rt->errors; c && *c; c++) {
        const webot_error_kind_t *k = webot_error_kind(*c);
        char status[8];
        json_t *resp, *examples, *ex;
        if (!k) {
            if (!b->err) {
                b->err = apr_psprintf(b->p, "%s %s: unknown error code %s",
                                      rt->method, rt->path, *c);
            }
            continue;
        }
        apr_snprintf(status, sizeof(status), "%d", k->status);
        resp = json_object_get(out, status);
        if (!resp) {
            resp = json_pack("{s:s,s:{s:{s:{s:s},s:{}}}}",
                "description", "",
                "content", "application/json",
                "schema", "$ref", "#/components/schemas/Error",
                "examples");
            json_object_set_new(out, status, resp);
        }
        json_object_set_new(resp, "description", json_string(
            apr_pstrcat(b->p,
                        json_string_length(json_object_get(resp,
                                                           "description"))
                        ? json_string_value(json_object_get(resp,
                                                            "description"))
                        : "",
                        json_string_length(json_object_get(resp,
                                                           "description"))
                        ? "; " : "",
                        k->code, ": ", k->when, NULL)));
        examples = json_object_get(json_object_get(json_object_get(resp,
                       "content"), "application/json"), "examples");
        ex = json_pack("{s:s,s:{s:{s:s,s:s,s:s,s:s,s:s?,s:n,s:[]}}}",
            "summary", k->code,
            "value", "error",
            "code", k->code,
            "message", k->when,
            "request_id", "req_2b7qfj6m3xk4yq5zv2w7h3k4tq",
            "suggested_action", k->suggested_action,
            "suggested_endpoint", k->suggested_endpoint,
            "param", "details");
        json_object_set_new(examples, k->code, ex);
        if (k->status == 429 || k->status == 503) {
            json_object_set_new(resp, "headers", json_pack(
                "{s:{s:s,s:{s:s}}}", "Retry-After", "description",
                "Seconds to wait before retrying.", "schema", "type",
                "integer"));
        }
        if (k->status == 405) {
            json_object_set_new(resp, "headers", json_pack(
                "{s:{s:s,s:{s:s}}}", "Allow", "description",
                "The methods this path accepts.", "schema", "type",
                "string"));
        }
    }
    return out;
}

static json_t *parameters_of(build_t *b, const webot_route_t *rt)
{
    json_t *params = json_array();
    const webot_param_t *pp;

    if (strstr(rt->path, "{id}")) {
        json_array_append_new(params, json_pack(
            "{s:s,s:s,s:b,s:s,s:{s:s,s:i}}", "name", "id", "in", "path",
            "required", 1, "description", "The resource id.", "schema",
            "type", "string", "maxLength", 64));
    }
    if (rt->flags & (WEBOT_RF_IDEMPOTENCY_REQ | WEBOT_RF_IDEMPOTENCY_OPT)) {
        json_array_append_new(params, json_pack(
            "{s:s,s:s,s:b,s:s,s:{s:s,s:i,s:i,s:s}}", "name",
            "Idempotency-Key", "in", "header", "required",
            (rt->flags & WEBOT_RF_IDEMPOTENCY_REQ) != 0, "description",
            "A unique key for this request; a retry with the same key and "
            "body replays the first answer.",
            "schema", "type", "string", "minLength", 16, "maxLength", 128,
            "pattern", "^[A-Za-z0-9._:-]+$"));
    }
    for (pp = rt->params; pp && pp->name; pp++) {
        json_t *sch = parse(b, pp->name, pp->schema);
        json_array_append_new(params, json_pack("{s:s,s:s,s:b,s:s,s:o}",
            "name", pp->name, "in", pp->in, "required", 0,
            "description", pp->description ? pp->description : "",
            "schema", sch ? sch : json_object()));
    }
    json_array_append_new(params, json_pack(
        "{s:s,s:s,s:b,s:s,s:{s:s,s:i,s:i,s:s}}", "name", "X-Request-Id",
        "in", "header", "required", 0, "description",
        "Your id for this request, echoed in the response and in errors.",
        "schema", "type", "string", "minLength", 1, "maxLength", 128,
        "pattern", "^[A-Za-z0-9._:-]+$"));
    return params;
}

/* Headers of a success answer beyond X-Request-Id. */
static void success_headers(const webot_route_t *rt, json_t *h)
{
    if (rt->auth == WEBOT_AUTH_REQUIRED) {
        json_object_set_new(h, "RateLimit-Policy", json_pack(
            "{s:s,s:{s:s},s:s}", "description", "The key's or session's "
            "per-minute quota (draft-ietf-httpapi-ratelimit-headers).",
            "schema", "type", "string", "example", "\"minute\";q=60;w=60"));
        json_object_set_new(h, "RateLimit", json_pack(
            "{s:s,s:{s:s},s:s}", "description", "What is left of it and "
            "when the window resets.", "schema", "type", "string",
            "example", "\"minute\";r=59;t=41"));
    }
    if (rt->flags & (WEBOT_RF_IDEMPOTENCY_REQ | WEBOT_RF_IDEMPOTENCY_OPT)) {
        json_object_set_new(h, "Idempotent-Replayed", json_pack(
            "{s:s,s:{s:s,s:[s]}}", "description", "Present when this answer "
            "is the replay of an earlier request with the same "
            "Idempotency-Key.", "schema", "type", "string", "enum", "true"));
    }
    if (rt->flags & WEBOT_RF_ETAG) {
        json_object_set_new(h, "ETag", json_pack("{s:s,s:{s:s}}",
            "description", "Entity tag; send it as If-None-Match to get 304.",
            "schema", "type", "string"));
    }
}

static json_t *operation(build_t *b, const webot_route_t *rt)
{
    json_t *op = json_object(), *responses, *ok, *sch, *ex;
    char status[8];
    const char *desc = rt->description ? rt->description : "";
    const char *scopes = scopes_text(b->p, rt->scopes);

    if (rt->auth == WEBOT_AUTH_REQUIRED && scopes) {
        desc = apr_pstrcat(b->p, desc, "\n\nAuth: API key (Bearer) with "
                           "scope ", scopes, ", or a dashboard session.",
                           NULL);
    }
    else if (rt->auth == WEBOT_AUTH_OWNER) {
        desc = apr_pstrcat(b->p, desc, "\n\nAuth: dashboard session of an "
                           "owner or admin, with X-CSRF-Token.", NULL);
    }
    json_object_set_new(op, "operationId", json_string(rt->operation_id));
    json_object_set_new(op, "summary", json_string(rt->summary));
    json_object_set_new(op, "description", json_string(desc));
    json_object_set_new(op, "tags", json_pack("[s]", rt->tag));
    json_object_set_new(op, "security", security_of(rt));
    if (scopes) {
        json_object_set_new(op, "x-webot-scopes", json_string(scopes));
    }
    if (rt->mcp_tool) {
        /* the MCP tool (webot_mcp.c builds tools/list from this mark) */
        json_object_set_new(op, "x-mcp-tool", json_string(rt->mcp_tool));
    }
    json_object_set_new(op, "parameters", parameters_of(b, rt));
    if (rt->request_schema) {
        sch = parse(b, rt->operation_id, rt->request_schema);
        ex = rt->request_example
             ? parse(b, rt->operation_id, rt->request_example) : NULL;
        json_object_set_new(op, "requestBody", json_pack(
            "{s:b,s:{s:{s:o}}}", "required",
            !(rt->flags & WEBOT_RF_BODY_OPTIONAL), "content",
            "application/json", "schema", sch ? sch : json_object()));
        if (ex) {
            json_object_set_new(json_object_get(json_object_get(
                json_object_get(op, "requestBody"), "content"),
                "application/json"), "example", ex);
        }
    }
    responses = error_responses(b, rt);
    apr_snprintf(status, sizeof(status), "%d", rt->success_status);
    sch = rt->response_schema ? parse(b, rt->operation_id,
                                      rt->response_schema) : NULL;
    ex = rt->response_example ? parse(b, rt->operation_id,
                                      rt->response_example) : NULL;
    ok = json_pack("{s:s,s:{s:{s:s,s:{s:s}}}}",
                   "description", rt->summary,
                   "headers", "X-Request-Id", "description",
                   "The request id (yours or a generated one).",
                   "schema", "type", "string");
    success_headers(rt, json_object_get(ok, "headers"));
    if (sch && webot_json_str(sch, "contentMediaType")) {
        /* not JSON (the docs page): the schema names its media type */
        json_object_set_new(ok, "content", json_pack("{s:{s:o}}",
                            webot_json_str(sch, "contentMediaType"),
                            "schema", sch));
        if (ex) {
            json_object_set_new(json_object_get(json_object_get(ok,
                "content"), webot_json_str(sch, "contentMediaType")),
                "example", ex);
        }
    }
    else if (sch) {
        json_object_set_new(ok, "content", json_pack("{s:{s:o}}",
                            "application/json", "schema", sch));
        if (ex) {
            json_object_set_new(json_object_get(json_object_get(ok,
                "content"), "application/json"), "example", ex);
        }
    }
    else if (ex) {
        json_decref(ex);
    }
    json_object_set_new(responses, status, ok);
    if (rt->flags & WEBOT_RF_ETAG) {
        json_object_set_new(responses, "304", json_pack("{s:s}",
            "description", "Not modified (If-None-Match matched the ETag)."));
    }
    json_object_set_new(op, "responses", responses);
    return op;
}

static void lower(char *s)
{
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            *s = (char)(*s - 'A' + 'a');
        }
    }
}

json_t *webot_openapi_build(apr_pool_t *p, const webot_route_t *routes,
                            int n, const webot_named_schema_t *components,
                            const char **err)
{
    build_t b = { p, NULL };
    json_t *doc, *paths = json_object(), *schemas = json_object(),
           *tags = json_array();
    const webot_named_schema_t *c;
    const webot_tag_t *t;
    int i;

    for (i = 0; i < n; i++) {
        const webot_route_t *rt = &routes[i];
        const char *full = webot_route_full_path(p, rt);
        json_t *item = json_object_get(paths, full);
        char *m = apr_pstrdup(p, rt->method);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, full, item);
        }
        lower(m);
        json_object_set_new(item, m, operation(&b, rt));
    }
    for (c = components; c && c->name; c++) {
        json_t *s = parse(&b, c->name, c->schema);
        if (s) {
            json_object_set_new(schemas, c->name, s);
        }
    }
    for (t = webot_tags; t->name; t++) {
        json_array_append_new(tags, json_pack("{s:s,s:s}", "name", t->name,
                                              "description",
                                              t->description));
    }
    doc = json_pack("{s:s,s:{s:s,s:s,s:s,s:{s:s,s:s}},s:[{s:s,s:s}],"
                    "s:o,s:o,s:{s:o,s:{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s},"
                    "s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s}}}}",
        "openapi", "3.1.0",
        "info", "title", "WeBot API (mod_webot)",
        "version", "1.0.0",
        "description", "The WeBot job API served by the mod_webot Apache "
        "httpd module. Every error has the same body; its suggested_action "
        "tells an automated caller whether to retry, wait, revise the "
        "request, upgrade the plan, or ask a human.",
        "license", "name", "Apache-2.0", "identifier", "Apache-2.0",
        "servers", "url", "/", "description", "this server",
        "tags", tags,
        "paths", paths,
        "components", "schemas", schemas, "securitySchemes",
        "bearerKey", "type", "http", "scheme", "bearer",
        "description", "An API key: Authorization: Bearer wbt_...",
        "sessionCookie", "type", "apiKey", "in", "cookie", "name",
        "webot_session", "description", "Dashboard session from "
        "POST /api/v1/auth/login.",
        "csrfToken", "type", "apiKey", "in", "header", "name",
        "X-CSRF-Token", "description", "The csrf_token from login; "
        "required with the session cookie on POST, PUT and DELETE.",
        "stripeSignature", "type", "apiKey", "in", "header", "name",
        "Stripe-Signature", "description", "Stripe's webhook signature.");
    if (!b.err && doc) {
        /* the MCP tools are generated from this document: a tool name that
         * is not [a-z_] or is used twice, or an argument name used twice,
         * stops start-up here rather than at the first tools/list */
        const char *terr = NULL;
        if (!webot_mcp_tools_build(p, doc, &terr)) {
            b.err = apr_pstrcat(p, "MCP tools: ", terr, NULL);
        }
    }
    if (b.err || !doc) {
        *err = b.err ? b.err : "json_pack failed";
        json_decref(doc);
        return NULL;
    }
    return webot_json_own(p, doc);
}
