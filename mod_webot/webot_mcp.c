/* webot_mcp.c: the Model Context Protocol core (see webot_mcp.h). */
#include "webot_mcp.h"
#include "webot_json.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <stdlib.h>
#include <string.h>

const char *const webot_mcp_versions[] = {
    "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", NULL };

int webot_mcp_version_supported(const char *v)
{
    int i;
    for (i = 0; v && webot_mcp_versions[i]; i++) {
        if (!strcmp(v, webot_mcp_versions[i])) {
            return 1;
        }
    }
    return 0;
}

const char *webot_mcp_negotiate(const char *requested)
{
    return webot_mcp_version_supported(requested) ? requested
                                                  : webot_mcp_versions[0];
}

int webot_mcp_version_allows_batch(const char *v)
{
    /* dates compare as strings */
    return v && strcmp(v, "2025-03-26") <= 0;
}

/* --- envelopes ------------------------------------------------------- */

void webot_mcp_classify(json_t *v, webot_mcp_msg_t *m)
{
    json_t *id, *method, *params;

    memset(m, 0, sizeof(*m));
    m->kind = WEBOT_MCP_INVALID;
    if (!json_is_object(v)) {
        m->problem = "a JSON-RPC message must be an object";
        return;
    }
    id = json_object_get(v, "id");
    if (id && (json_is_string(id) || json_is_integer(id))) {
        m->id = id;
    }
    if (!json_is_string(json_object_get(v, "jsonrpc"))
        || strcmp(json_string_value(json_object_get(v, "jsonrpc")), "2.0")) {
        m->problem = "\"jsonrpc\" must be \"2.0\"";
        return;
    }
    method = json_object_get(v, "method");
    if (!method) {
        if (m->id && (json_object_get(v, "result")
                      || json_object_get(v, "error"))) {
            m->kind = WEBOT_MCP_RESPONSE;
            return;
        }
        m->problem = "a request needs a \"method\"";
        return;
    }
    if (!json_is_string(method)) {
        m->problem = "\"method\" must be a string";
        return;
    }
    if (id && !m->id) {
        m->problem = "\"id\" must be a string or an integer";
        return;
    }
    params = json_object_get(v, "params");
    if (params && !json_is_object(params)) {
        m->problem = "\"params\" must be an object";
        return;
    }
    m->method = json_string_value(method);
    m->params = params;
    m->kind = m->id ? WEBOT_MCP_REQUEST : WEBOT_MCP_NOTIFICATION;
}

int webot_mcp_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                    webot_mcp_msg_t **msgs, int *n, int *batch,
                    const char **why)
{
    json_error_t je;
    json_t *v;
    size_t i;

    *msgs = NULL;
    *n = 0;
    *batch = 0;
    v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!v) {
        *why = apr_psprintf(p, "%s at line %d, column %d", je.text, je.line,
                            je.column);
        return WEBOT_RPC_PARSE_ERROR;
    }
    webot_json_own(p, v);
    if (json_is_array(v)) {
        size_t cnt = json_array_size(v);
        if (!cnt) {
            *why = "an empty batch";
            return WEBOT_RPC_INVALID_REQUEST;
        }
        if (cnt > WEBOT_MCP_MAX_BATCH) {
            *why = apr_psprintf(p, "a batch may hold at most %d messages",
                                WEBOT_MCP_MAX_BATCH);
            return WEBOT_RPC_INVALID_REQUEST;
        }
        *batch = 1;
        *n = (int)cnt;
        *msgs = apr_pcalloc(p, cnt * sizeof(**msgs));
        for (i = 0; i < cnt; i++) {
            webot_mcp_classify(json_array_get(v, i), &(*msgs)[i]);
        }
        return 0;
    }
    *n = 1;
    *msgs = apr_pcalloc(p, sizeof(**msgs));
    webot_mcp_classify(v, *msgs);
    return 0;
}

json_t *webot_mcp_result(json_t *id, json_t *result)
{
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id",
                     id ? id : json_null(), "result",
                     result ? result : json_object());
}

/* A JSON string of s; bytes that would not make valid UTF-8 (a message
 * quoting a client's broken input, or a name cut inside a character) become
 * '?'. New reference. */
static json_t *text_json(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (!j) {
        apr_size_t n = strlen(s), i;
        char *c = malloc(n + 1);
        if (!c) {
            return json_string("(unprintable)");
        }
        for (i = 0; i < n; i++) {
            unsigned char b = (unsigned char)s[i];
            c[i] = b >= 0x20 && b < 0x7f ? (char)b : '?';
        }
        c[n] = '\0';
        j = json_string(c);
        free(c);
    }
    return j;
}

json_t *webot_mcp_error(json_t *id, int code, const char *message,
                        json_t *data)
{
    json_t *e = json_pack("{s:i,s:o}", "code", code, "message",
                          text_json(message));
    if (data) {
        json_object_set_new(e, "data", data);
    }
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id",
                     id ? id : json_null(), "error", e);
}

/* --- $ref inlining ------------------------------------------------------ */

#define REF_PREFIX "#/components/schemas/"

static json_t *inline_refs(const json_t *s, const json_t *doc, int depth,
                           const char **err)
{
    json_t *out, *x;
    const char *k;
    size_t i;

    if (depth > 32) {
        *err = "$ref nesting deeper than 32";
        return NULL;
    }
    if (json_is_object(s)) {
        const char *ref = webot_json_str(s, "$ref");
        if (ref) {
            const json_t *target = NULL;
            if (!strncmp(ref, REF_PREFIX, sizeof(REF_PREFIX) - 1)) {
                target = json_object_get(json_object_get(json_object_get(
                    doc, "components"), "schemas"),
                    ref + sizeof(REF_PREFIX) - 1);
            }
            if (!target) {
                *err = "a $ref that does not resolve";
                return NULL;
            }
            out = inline_refs(target, doc, depth + 1, err);
            if (out && json_object_size(s) > 1) {
                /* siblings of $ref (2020-12 allows them): keep them */
                json_object_foreach((json_t *)s, k, x) {
                    if (strcmp(k, "$ref")) {
                        json_t *c = inline_refs(x, doc, depth + 1, err);
                        if (!c) {
                            json_decref(out);
                            return NULL;
                        }
                        json_object_set_new(out, k, c);
                    }
                }
            }
            return out;
        }
        out = json_object();
        json_object_foreach((json_t *)s, k, x) {
            json_t *c = inline_refs(x, doc, depth + 1, err);
            if (!c) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, k, c);
        }
        return out;
    }
    if (json_is_array(s)) {
        out = json_array();
        json_array_foreach(s, i, x) {
            json_t *c = inline_refs(x, doc, depth + 1, err);
            if (!c) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, c);
        }
        return out;
    }
    return json_deep_copy(s);
}

json_t *webot_mcp_inline_refs(const json_t *schema, const json_t *doc,
                              const char **err)
{
    return inline_refs(schema, doc, 0, err);
}

/* --- tools -------------------------------------------------------------- */

int webot_mcp_tool_name_valid(const char *s)
{
    apr_size_t n = 0;
    if (!s || !(*s >= 'a' && *s <= 'z')) {
        return 0;
    }
    for (; *s; s++, n++) {
        if (!((*s >= 'a' && *s <= 'z') || *s == '_')) {
            return 0;
        }
    }
    return n <= 64;
}

static void upper(char *s)
{
    for (; *s; s++) {
        *s = (char)apr_toupper(*s);
    }
}

/* Adds one argument to the input schema; 0, or 1 when the name is taken. */
static int add_arg(json_t *props, json_t *required, const char *name,
                   json_t *schema, const char *description, int req)
{
    if (json_object_get(props, name)) {
        json_decref(schema);
        return 1;
    }
    if (description && *description && json_is_object(schema)
        && !json_object_get(schema, "description")) {
        json_object_set_new(schema, "description", json_string(description));
    }
    json_object_set_new(props, name, schema);
    if (req) {
        json_array_append_new(required, json_string(name));
    }
    return 0;
}

/* The first 2xx response of an operation, and its status. */
static const json_t *success_response(const json_t *op, const char **status)
{
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(op, "responses"), k, v) {
        if (k[0] == '2' && strlen(k) == 3) {
            *status = k;
            return v;
        }
    }
    return NULL;
}

static const char *tool_description(apr_pool_t *p, const json_t *op)
{
    const char *sum = webot_json_str(op, "summary");
    const char *desc = webot_json_str(op, "description");
    const char *errs = NULL, *k;
    json_t *v, *resp;

    /* the error codes the route can answer, from the response examples */
    json_object_foreach(json_object_get(op, "responses"), k, resp) {
        const char *code;
        if (k[0] == '2' || k[0] == '3') {
            continue;
        }
        json_object_foreach(json_object_get(json_object_get(json_object_get(
            resp, "content"), "application/json"), "examples"), code, v) {
            errs = errs ? apr_pstrcat(p, errs, ", ", code, NULL) : code;
        }
    }
    return apr_pstrcat(p, sum ? sum : "", sum ? ". " : "",
                       desc ? desc : "",
                       errs ? "\n\nA failed call returns isError with the "
                              "error body {\"error\":{code, message, "
                              "suggested_action, ...}}; codes: " : "",
                       errs ? errs : "", errs ? "." : "", NULL);
}

static webot_mcp_tool_t *build_tool(apr_pool_t *p, const json_t *doc,
                                    const char *path, const char *method,
                                    const json_t *op, const char *name,
                                    json_t **descriptor, const char **err)
{
    webot_mcp_tool_t *t = apr_pcalloc(p, sizeof(*t));
    json_t *props = json_object(), *required = json_array(), *input, *x;
    json_t *output = NULL, *annotations;
    const json_t *resp, *body_schema;
    const char *status = NULL, *scopes, *k;
    char *m = apr_pstrdup(p, method);
    size_t i;

    upper(m);
    t->name = name;
    t->operation_id = webot_json_str(op, "operationId");
    t->method = m;
    t->path = path;
    t->query = apr_array_make(p, 4, sizeof(const char *));
    t->body = apr_array_make(p, 8, sizeof(const char *));

    json_array_foreach(json_object_get(op, "parameters"), i, x) {
        const char *pname = webot_json_str(x, "name");
        const char *in = webot_json_str(x, "in");
        const char *pdesc = webot_json_str(x, "description");
        int req = json_is_true(json_object_get(x, "required"));
        const char *argname = NULL;
        json_t *sch;
        if (!pname || !in) {
            continue;
        }
        if (!strcmp(in, "path") && !strcmp(pname, "id")) {
            t->has_id = 1;
            argname = "id";
        }
        else if (!strcmp(in, "query")) {
            argname = pname;
            APR_ARRAY_PUSH(t->query, const char *) = pname;
        }
        else if (!strcasecmp(in, "header")
                 && !strcasecmp(pname, "Idempotency-Key")) {
            t->idempotency = req ? WEBOT_MCP_IDEM_REQUIRED
                                 : WEBOT_MCP_IDEM_OPTIONAL;
            argname = "idempotency_key";
        }
        if (!argname) {
            continue;           /* X-Request-Id and other headers */
        }
        sch = inline_refs(json_object_get(x, "schema"), doc, 0, err);
        if (!sch) {
            goto fail;
        }
        if (add_arg(props, required, argname, sch, pdesc, req)) {
            *err = apr_psprintf(p, "tool %s: argument %s is used twice",
                                name, argname);
            goto fail;
        }
    }
    body_schema = json_object_get(json_object_get(json_object_get(
        json_object_get(op, "requestBody"), "content"), "application/json"),
        "schema");
    if (body_schema) {
        json_t *bs = inline_refs(body_schema, doc, 0, err);
        json_t *breq;
        if (!bs) {
            goto fail;
        }
        t->has_body = 1;
        breq = json_object_get(bs, "required");
        json_object_foreach(json_object_get(bs, "properties"), k, x) {
            size_t j;
            json_t *r;
            int req = 0;
            json_array_foreach(breq, j, r) {
                if (json_is_string(r) && !strcmp(json_string_value(r), k)) {
                    req = 1;
                }
            }
            if (add_arg(props, required, k, json_deep_copy(x), NULL, req)) {
                *err = apr_psprintf(p, "tool %s: argument %s is used twice",
                                    name, k);
                json_decref(bs);
                goto fail;
            }
            APR_ARRAY_PUSH(t->body, const char *) = apr_pstrdup(p, k);
        }
        json_decref(bs);
    }
    input = json_pack("{s:s,s:o,s:o,s:b}", "type", "object",
                      "properties", props, "required", required,
                      "additionalProperties", 0);
    props = required = NULL;

    resp = success_response(op, &status);
    if (resp) {
        const json_t *rs = json_object_get(json_object_get(json_object_get(
            resp, "content"), "application/json"), "schema");
        const char *type = webot_json_str(rs, "type");
        if (type && !strcmp(type, "object")) {
            json_t *ref = json_pack("{s:s}", "$ref", REF_PREFIX "Error");
            json_t *ok = inline_refs(rs, doc, 0, err);
            json_t *eb = ok ? inline_refs(ref, doc, 0, err) : NULL;
            json_decref(ref);
            if (!ok || !eb) {
                json_decref(ok);
                json_decref(input);
                return NULL;
            }
            /* structuredContent is the success body, or on isError the
             * contract's error body */
            output = json_pack("{s:s,s:[o,o]}", "type", "object", "anyOf",
                               ok, eb);
        }
    }
    scopes = webot_json_str(op, "x-webot-scopes");
    /* public routes only read; others change state when a scope writes */
    annotations = json_pack("{s:s,s:b,s:b}", "title",
        webot_json_str(op, "summary") ? webot_json_str(op, "summary") : name,
        "readOnlyHint", !scopes || !strstr(scopes, ":write"),
        "openWorldHint", 0);
    if (!strcmp(m, "GET") || t->idempotency != WEBOT_MCP_IDEM_NONE) {
        json_object_set_new(annotations, "idempotentHint", json_true());
    }
    *descriptor = json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", name,
                            "title", json_string_value(json_object_get(
                                annotations, "title")),
                            "description", tool_description(p, op),
                            "inputSchema", input,
                            "annotations", annotations);
    if (output) {
        json_object_set_new(*descriptor, "outputSchema", output);
    }
    return t;

fail:
    json_decref(props);
    json_decref(required);
    return NULL;
}

webot_mcp_toolset_t *webot_mcp_tools_build(apr_pool_t *p,
                                           const json_t *openapi,
                                           const char **err)
{
    webot_mcp_toolset_t *ts = apr_pcalloc(p, sizeof(*ts));
    const char *path, *method;
    json_t *item, *op;

    *err = NULL;
    ts->tools = apr_array_make(p, 16, sizeof(webot_mcp_tool_t));
    ts->list = webot_json_own(p, json_array());
    json_object_foreach(json_object_get(openapi, "paths"), path, item) {
        json_object_foreach(item, method, op) {
            const char *name = webot_json_str(op, "x-mcp-tool");
            webot_mcp_tool_t *t;
            json_t *d = NULL;
            if (!name) {
                continue;
            }
            if (!webot_mcp_tool_name_valid(name)) {
                *err = apr_psprintf(p, "%s %s: tool name \"%s\" is not "
                                    "1..64 of [a-z_]", method, path, name);
                return NULL;
            }
            if (webot_mcp_tool_find(ts, name)) {
                *err = apr_psprintf(p, "tool name %s is used twice", name);
                return NULL;
            }
            t = build_tool(p, openapi, apr_pstrdup(p, path), method, op,
                           apr_pstrdup(p, name), &d, err);
            if (!t) {
                if (!*err) {
                    *err = "tool build failed";
                }
                *err = apr_psprintf(p, "%s %s: %s", method, path, *err);
                return NULL;
            }
            APR_ARRAY_PUSH(ts->tools, webot_mcp_tool_t) = *t;
            json_array_append_new(ts->list, d);
        }
    }
    return ts;
}

const webot_mcp_tool_t *webot_mcp_tool_find(const webot_mcp_toolset_t *ts,
                                            const char *name)
{
    int i;
    for (i = 0; name && i < ts->tools->nelts; i++) {
        const webot_mcp_tool_t *t = &APR_ARRAY_IDX(ts->tools, i,
                                                   webot_mcp_tool_t);
        if (!strcmp(t->name, name)) {
            return t;
        }
    }
    return NULL;
}

/* --- calls --------------------------------------------------------------- */

static int in_list(const apr_array_header_t *a, const char *s)
{
    int i;
    for (i = 0; i < a->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(a, i, const char *), s)) {
            return 1;
        }
    }
    return 0;
}

/* Percent-encodes all but RFC 3986 unreserved characters. */
static const char *qenc(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

static int id_syntax_ok(const char *s)
{
    apr_size_t n = 0;
    for (; *s; s++, n++) {
        if (!(apr_isalnum(*s) || *s == '_' || *s == '-')) {
            return 0;
        }
    }
    return n >= 1 && n <= 64;
}

static const char *scalar_text(apr_pool_t *p, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        return apr_psprintf(p, "%" APR_INT64_T_FMT,
                            (apr_int64_t)json_integer_value(v));
    case JSON_REAL:
        return apr_psprintf(p, "%.17g", json_real_value(v));
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return NULL;
    }
}

webot_error_t *webot_mcp_call_map(apr_pool_t *p, const webot_mcp_tool_t *t,
                                  const json_t *args, webot_mcp_call_t *out)
{
    webot_error_t *e = webot_error_make(p, "VALIDATION_ERROR",
                                        "The tool arguments are not valid.");
    const char *k, *uri;
    json_t *v;

    memset(out, 0, sizeof(*out));
    if (t->has_body) {
        out->body = webot_json_own(p, json_object());
    }
    json_object_foreach((json_t *)args, k, v) {
        if (t->has_id && !strcmp(k, "id")) {
            if (!json_is_string(v)) {
                webot_error_add_param(p, e, "id", "must be a string");
            }
            else {
                out->id = json_string_value(v);
            }
        }
        else if (t->idempotency && !strcmp(k, "idempotency_key")) {
            if (!json_is_string(v)) {
                webot_error_add_param(p, e, "idempotency_key",
                                      "must be a string");
            }
            else {
                out->idempotency_key = json_string_value(v);
            }
        }
        else if (in_list(t->query, k)) {
            const char *s = scalar_text(p, v);
            if (!s) {
                webot_error_add_param(p, e, k, "must be a string, a number "
                                      "or a boolean");
            }
            else {
                const char *pair = apr_pstrcat(p, qenc(p, k), "=",
                                               qenc(p, s), NULL);
                out->query = out->query
                    ? apr_pstrcat(p, out->query, "&", pair, NULL) : pair;
            }
        }
        else if (in_list(t->body, k)) {
            json_object_set(out->body, k, v);
        }
        else {
            webot_error_add_param(p, e, k, "is not an argument of this tool");
        }
    }
    if (t->has_id && !out->id && !json_object_get(args, "id")) {
        webot_error_add_param(p, e, "id", "is required");
    }
    if (json_array_size(e->details)) {
        return e;
    }
    uri = t->path;
    if (t->has_id) {
        const char *at = strstr(t->path, "{id}");
        if (!id_syntax_ok(out->id)) {
            return webot_error_make(p, "NOT_FOUND", "No resource has the "
                                    "id given (ids are 1 to 64 of "
                                    "A-Z a-z 0-9 _ -).");
        }
        if (at) {
            uri = apr_pstrcat(p, apr_pstrmemdup(p, t->path,
                                                (apr_size_t)(at - t->path)),
                              out->id, at + 4, NULL);
        }
    }
    out->uri = uri;
    return NULL;
}

json_t *webot_mcp_tool_result(int status, const char *body, apr_size_t len)
{
    json_t *parsed = NULL, *res, *text;
    int ok = status >= 200 && status < 300;

    if (body && len) {
        parsed = json_loadb(body, len, 0, NULL);
    }
    text = json_stringn(body ? body : "", body ? len : 0);
    res = json_pack("{s:[{s:s,s:o}],s:b}", "content", "type", "text",
                    "text", text ? text : json_string("(the answer was not "
                                                      "valid UTF-8)"),
                    "isError", !ok);
    if (json_is_object(parsed)) {
        json_object_set_new(res, "structuredContent", parsed);
    }
    else {
        json_decref(parsed);
    }
    return res;
}

/* --- transport ----------------------------------------------------------- */

/* host[:port] lowercased with the scheme's default port made explicit. */
static const char *authority(apr_pool_t *p, const char *a, apr_size_t n,
                             int https)
{
    char *s = apr_pstrmemdup(p, a, n), *c;
    const char *colon;
    for (c = s; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    /* an IPv6 literal keeps its brackets; the port follows "]" */
    colon = s[0] == '[' ? strstr(s, "]:") : strrchr(s, ':');
    if (colon && s[0] == '[') {
        colon++;
    }
    if (!colon) {
        return apr_pstrcat(p, s, https ? ":443" : ":80", NULL);
    }
    return s;
}

int webot_mcp_origin_ok(apr_pool_t *p, const char *origin, const char *host,
                        int https)
{
    const char *scheme = https ? "https://" : "http://";
    apr_size_t sl = strlen(scheme);
    const char *rest;
    apr_size_t n;

    if (!origin || !host || !*host) {
        return 0;
    }
    if (strncasecmp(origin, scheme, sl)) {
        return 0;
    }
    rest = origin + sl;
    n = strlen(rest);
    if (!n || strpbrk(rest, "/?#@ \t")) {
        return 0;
    }
    return !strcmp(authority(p, rest, n, https),
                   authority(p, host, strlen(host), https));
}
