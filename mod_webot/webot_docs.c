/* webot_docs.c: the HTML schema browser from the OpenAPI document (see
 * webot_docs.h). */
#include "webot_docs.h"
#include "webot_error.h"
#include "webot_json.h"
#include "webot_util.h"

#include <apr_base64.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <stdlib.h>
#include <string.h>

#define REF_PREFIX "#/components/schemas/"
#define MAX_DEPTH 8

static const char STYLE[] =
    ":root{--fg:#1d232b;--muted:#5b6573;--line:#d9dee5;--bg:#fff;"
    "--soft:#f5f7fa;--code:#f0f3f7;--accent:#1f5fbf}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',"
    "Roboto,'Helvetica Neue',Arial,sans-serif;color:var(--fg);"
    "background:var(--bg)}"
    "header.top{padding:24px 32px;border-bottom:1px solid var(--line);"
    "background:var(--soft)}"
    "header.top h1{margin:0 0 6px;font-size:26px}"
    "header.top p{margin:4px 0;max-width:70em;color:var(--muted)}"
    ".layout{display:flex;align-items:flex-start}"
    "nav.toc{flex:0 0 330px;padding:16px 20px;border-right:1px solid "
    "var(--line);font-size:13px}"
    "nav.toc h2{font-size:14px;margin:8px 0;text-transform:uppercase;"
    "letter-spacing:.04em;color:var(--muted)}"
    "nav.toc h3{font-size:13px;margin:14px 0 4px}"
    "nav.toc ul{list-style:none;margin:0;padding:0}"
    "nav.toc li{margin:2px 0;white-space:nowrap;overflow:hidden;"
    "text-overflow:ellipsis}"
    "nav.toc a{color:var(--fg);text-decoration:none}"
    "nav.toc a:hover{color:var(--accent);text-decoration:underline}"
    "main{flex:1;min-width:0;padding:8px 32px 48px}"
    "section.tag>h2{font-size:22px;margin:32px 0 4px;padding-bottom:4px;"
    "border-bottom:2px solid var(--fg);text-transform:capitalize}"
    "section.tag>p{color:var(--muted);margin:4px 0 12px}"
    "article.op{border:1px solid var(--line);border-radius:8px;"
    "margin:18px 0;padding:14px 18px}"
    "article.op h3{margin:0 0 6px;font-size:17px;word-break:break-all}"
    "article.op h4{margin:16px 0 6px;font-size:14px;text-transform:"
    "uppercase;letter-spacing:.04em;color:var(--muted)}"
    "article.op h5{margin:10px 0 4px;font-size:13px;color:var(--muted)}"
    ".summary{font-weight:600;margin:2px 0 6px}"
    ".desc{margin:4px 0;max-width:75em}"
    ".m{display:inline-block;min-width:62px;text-align:center;"
    "border-radius:4px;padding:1px 6px;margin-right:6px;font:600 13px/1.6 "
    "ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#fff}"
    ".m-get{background:#1d7a46}.m-post{background:#1f5fbf}"
    ".m-put{background:#9a5b00}.m-delete{background:#b3261e}"
    ".m-patch{background:#6b3fa0}"
    "code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,"
    "monospace}"
    "code{background:var(--code);padding:0 3px;border-radius:3px}"
    "h3 code.path{background:none;padding:0;font-size:16px}"
    "pre{background:var(--code);padding:10px 12px;border-radius:6px;"
    "overflow-x:auto;white-space:pre-wrap;word-break:break-word;margin:4px 0}"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;"
    "gap:2px 14px;margin:8px 0}"
    "dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}"
    "table{border-collapse:collapse;width:100%;margin:4px 0;font-size:13px}"
    "th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;"
    "vertical-align:top}"
    "th{background:var(--soft);font-weight:600}"
    "td.n{white-space:nowrap}"
    ".req{color:#b3261e;font-weight:600}"
    ".muted{color:var(--muted)}"
    "section#schemas article{border:1px solid var(--line);border-radius:8px;"
    "margin:14px 0;padding:10px 16px}"
    "section#schemas h3{margin:4px 0 8px}"
    "footer{padding:16px 32px;color:var(--muted);border-top:1px solid "
    "var(--line);font-size:13px}"
    "@media (max-width:900px){.layout{display:block}nav.toc{border:0}}";

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *out;    /* const char * chunks */
    const json_t *doc;
} docs_t;

const char *webot_html_escape(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    const char *c;
    char *out, *o;

    if (!s) {
        return "";
    }
    for (c = s; *c; c++) {
        switch (*c) {
        case '&': n += 5; break;
        case '<': case '>': n += 4; break;
        case '"': case '\'': n += 6; break;
        default: n++;
        }
    }
    out = o = apr_palloc(p, n + 1);
    for (c = s; *c; c++) {
        switch (*c) {
        case '&': memcpy(o, "&amp;", 5); o += 5; break;
        case '<': memcpy(o, "&lt;", 4); o += 4; break;
        case '>': memcpy(o, "&gt;", 4); o += 4; break;
        case '"': memcpy(o, "&quot;", 6); o += 6; break;
        case '\'': memcpy(o, "&#39;", 5); o += 5; break;
        default: *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

static void put(docs_t *d, const char *s)
{
    APR_ARRAY_PUSH(d->out, const char *) = s;
}

/* put escaped */
static void pute(docs_t *d, const char *s)
{
    put(d, webot_html_escape(d->p, s));
}

static void putf(docs_t *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void putf(docs_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put(d, apr_pvsprintf(d->p, fmt, ap));
    va_end(ap);
}

/* An id attribute value from arbitrary text: [A-Za-z0-9_-], rest "-". */
static const char *anchor(apr_pool_t *p, const char *prefix, const char *s)
{
    char *a = apr_pstrcat(p, prefix, s ? s : "", NULL), *c;
    for (c = a + strlen(prefix); *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
              || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-')) {
            *c = '-';
        }
    }
    return a;
}

static const char *pretty(apr_pool_t *p, const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    char *out;
    if (!s) {
        return "";
    }
    out = apr_pstrdup(p, s);
    free(s);
    return out;
}

/* Paragraphs from text with blank-line breaks, escaped. */
static void put_text(docs_t *d, const char *cls, const char *text)
{
    const char *s = text, *e;
    if (!text || !*text) {
        return;
    }
    while (s && *s) {
        e = strstr(s, "\n\n");
        putf(d, "<p class=\"%s\">", cls);
        pute(d, e ? apr_pstrmemdup(d->p, s, (apr_size_t)(e - s)) : s);
        put(d, "</p>\n");
        s = e ? e + 2 : NULL;
    }
}

static const char *ref_name(const json_t *s)
{
    const char *ref = webot_json_str(s, "$ref");
    if (ref && !strncmp(ref, REF_PREFIX, sizeof(REF_PREFIX) - 1)) {
        return ref + sizeof(REF_PREFIX) - 1;
    }
    return NULL;
}

/* The type column: a short, escaped HTML description of a schema. */
static const char *type_html(docs_t *d, const json_t *s)
{
    apr_pool_t *p = d->p;
    const char *rn = ref_name(s), *t = NULL, *extra = "";
    json_t *type = json_object_get(s, "type"), *x;
    size_t i;

    if (rn) {
        return apr_psprintf(p, "<a href=\"#%s\">%s</a>",
                            anchor(p, "schema-", rn),
                            webot_html_escape(p, rn));
    }
    if (json_is_string(type)) {
        t = json_string_value(type);
    }
    else if (json_is_array(type)) {
        json_array_foreach(type, i, x) {
            t = t ? apr_pstrcat(p, t, " | ", json_string_value(x), NULL)
                  : json_string_value(x);
        }
    }
    if (t && !strcmp(t, "array")) {
        json_t *items = json_object_get(s, "items");
        t = apr_pstrcat(p, "array of ", items ? type_html(d, items)
                                              : "anything", NULL);
        return t;           /* already HTML */
    }
    if (!t) {
        if (json_object_get(s, "anyOf") || json_object_get(s, "oneOf")) {
            t = "one of (see schema)";
        }
        else if (json_object_get(s, "const")) {
            t = "const";
        }
        else {
            t = "any";
        }
    }
#define RANGE(key, label)                                                    \
    if ((x = json_object_get(s, key)) && json_is_number(x)) {               \
        extra = apr_psprintf(p, "%s, %s %g", extra, label,                   \
                             json_number_value(x));                         \
    }
    RANGE("minLength", "min length")
    RANGE("maxLength", "max length")
    RANGE("minimum", "min")
    RANGE("maximum", "max")
    RANGE("minItems", "min items")
    RANGE("maxItems", "max items")
    RANGE("maxProperties", "max properties")
#undef RANGE
    if ((x = json_object_get(s, "format")) && json_is_string(x)) {
        extra = apr_pstrcat(p, extra, ", format ", json_string_value(x),
                            NULL);
    }
    if ((x = json_object_get(s, "pattern")) && json_is_string(x)) {
        extra = apr_pstrcat(p, extra, ", pattern ", json_string_value(x),
                            NULL);
    }
    if ((x = json_object_get(s, "enum")) && json_is_array(x)) {
        const char *vals = NULL;
        json_t *v;
        json_array_foreach(x, i, v) {
            const char *vt = webot_json_dump(p, v);
            vals = vals ? apr_pstrcat(p, vals, ", ", vt, NULL) : vt;
        }
        extra = apr_pstrcat(p, extra, ", one of ", vals ? vals : "", NULL);
    }
    if ((x = json_object_get(s, "const"))) {
        extra = apr_pstrcat(p, extra, ", always ", webot_json_dump(p, x),
                            NULL);
    }
    return apr_pstrcat(p, webot_html_escape(p, t),
                       *extra ? "<span class=\"muted\">" : "",
                       webot_html_escape(p, extra),
                       *extra ? "</span>" : "", NULL);
}

static int is_required(const json_t *s, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(s, "required"), i, r) {
        if (json_is_string(r) && !strcmp(json_string_value(r), name)) {
            return 1;
        }
    }
    return 0;
}

static void schema_rows(docs_t *d, const json_t *s, const char *prefix,
                        int depth)
{
    const char *k;
    json_t *x, *ap;

    if (depth > MAX_DEPTH || ref_name(s)) {
        return;
    }
    if (!strcmp(webot_json_str(s, "type") ? webot_json_str(s, "type") : "",
                "array")) {
        json_t *items = json_object_get(s, "items");
        if (items && json_object_get(items, "properties")) {
            schema_rows(d, items, apr_pstrcat(d->p, prefix, "[]", NULL),
                        depth + 1);
        }
        return;
    }
    json_object_foreach(json_object_get(s, "properties"), k, x) {
        const char *name = *prefix ? apr_pstrcat(d->p, prefix, ".", k, NULL)
                                   : k;
        put(d, "<tr><td class=\"n\"><code>");
        pute(d, name);
        put(d, "</code></td><td>");
        put(d, type_html(d, x));
        put(d, "</td><td>");
        put(d, is_required(s, k) ? "<span class=\"req\">required</span>"
                                 : "optional");
        put(d, "</td><td>");
        pute(d, webot_json_str(x, "description"));
        put(d, "</td></tr>\n");
        schema_rows(d, x, name, depth + 1);
    }
    ap = json_object_get(s, "additionalProperties");
    if (json_is_object(ap)) {
        const char *name = apr_pstrcat(d->p, *prefix ? prefix : "", 
                                       *prefix ? "." : "", "*", NULL);
        put(d, "<tr><td class=\"n\"><code>");
        pute(d, name);
        put(d, "</code></td><td>");
        put(d, type_html(d, ap));
        put(d, "</td><td>any key</td><td>");
        pute(d, webot_json_str(ap, "description"));
        put(d, "</td></tr>\n");
        schema_rows(d, ap, name, depth + 1);
    }
}

/* A schema: its type line, a property table when it has properties, and
 * for composite schemas the JSON text. */
static void put_schema(docs_t *d, const json_t *s)
{
    const json_t *shape = s;
    int table;

    if (!s) {
        return;
    }
    put(d, "<p>Type: ");
    put(d, type_html(d, s));
    if (json_is_false(json_object_get(s, "additionalProperties"))) {
        put(d, " <span class=\"muted\">(unknown fields are refused)</span>");
    }
    put(d, "</p>\n");
    if (webot_json_str(s, "type") && !strcmp(webot_json_str(s, "type"),
                                              "array")) {
        shape = json_object_get(s, "items");
    }
    table = shape && (json_object_get(shape, "properties")
                      || json_is_object(json_object_get(
                             shape, "additionalProperties")));
    if (table && !ref_name(shape)) {
        put(d, "<table><thead><tr><th>field</th><th>type</th>"
               "<th>required</th><th>description</th></tr></thead><tbody>\n");
        schema_rows(d, s, "", 0);
        put(d, "</tbody></table>\n");
    }
    if (json_object_get(s, "anyOf") || json_object_get(s, "oneOf")
        || json_object_get(s, "allOf")) {
        put(d, "<pre>");
        pute(d, pretty(d->p, s));
        put(d, "</pre>\n");
    }
}

/* Shell single-quoting. */
static const char *sq(apr_pool_t *p, const char *s)
{
    const char *c;
    char *out = apr_palloc(p, strlen(s) * 4 + 3), *o = out;
    *o++ = '\'';
    for (c = s; *c; c++) {
        if (*c == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        }
        else {
            *o++ = *c;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* An example id for the {id} of a path, from the segment before it. */
static const char *example_id(const char *path)
{
    if (strstr(path, "/jobs/{id}")) {
        return "job_2b7qfj6m3xk4yq5zv2w7h3k4tq";
    }
    if (strstr(path, "/api-keys/{id}")) {
        return "key_6v5hqk2m7xz3yq4tw2b7n3k4tq";
    }
    if (strstr(path, "/files/")) {
        return "file_5m2kq7x3yz4tw6b7n2h3k4tqfj";
    }
    return "id_2b7qfj6m3xk4yq5zv2w7h3k4tq";
}

static int has_scheme(const json_t *op, const char *name)
{
    size_t i;
    json_t *req;
    json_array_foreach(json_object_get(op, "security"), i, req) {
        if (json_object_get(req, name)) {
            return 1;
        }
    }
    return 0;
}

static const char *curl_example(docs_t *d, const char *method,
                                const char *path, const json_t *op)
{
    apr_pool_t *p = d->p;
    const char *url = path, *at, *s;
    const char *q = NULL;
    const json_t *body, *ct;
    size_t i;
    json_t *x;

    if ((at = strstr(path, "{id}"))) {
        url = apr_pstrcat(p, apr_pstrmemdup(p, path, (apr_size_t)(at - path)),
                          example_id(path), at + 4, NULL);
    }
    /* required query parameters get their example or a placeholder */
    json_array_foreach(json_object_get(op, "parameters"), i, x) {
        const char *in = webot_json_str(x, "in");
        if (in && !strcmp(in, "query")
            && json_is_true(json_object_get(x, "required"))) {
            const char *n = webot_json_str(x, "name");
            q = apr_pstrcat(p, q ? q : "", q ? "&" : "", n, "=", "...", NULL);
        }
    }
    s = apr_psprintf(p, "curl -sS%s \"$WEBOT_BASE_URL%s%s%s\"",
                     strcmp(method, "GET") ? apr_pstrcat(p, " -X ", method,
                                                         NULL) : "",
                     url, q ? "?" : "", q ? q : "");
    if (has_scheme(op, "bearerKey")) {
        s = apr_pstrcat(p, s, " \\\n  -H \"Authorization: Bearer "
                        "$WEBOT_API_KEY\"", NULL);
    }
    else if (has_scheme(op, "sessionCookie")) {
        s = apr_pstrcat(p, s, " \\\n  -b \"webot_session=$WEBOT_SESSION\""
                        " -H \"X-CSRF-Token: $WEBOT_CSRF\"", NULL);
    }
    else if (has_scheme(op, "stripeSignature")) {
        s = apr_pstrcat(p, s, " \\\n  -H \"Stripe-Signature: "
                        "t=1700000000,v1=...\"", NULL);
    }
    json_array_foreach(json_object_get(op, "parameters"), i, x) {
        const char *in = webot_json_str(x, "in");
        const char *n = webot_json_str(x, "name");
        if (in && n && !strcmp(in, "header")
            && !strcasecmp(n, "Idempotency-Key")) {
            s = apr_pstrcat(p, s, " \\\n  -H \"Idempotency-Key: "
                            "$(date +%s)-example-key\"", NULL);
        }
    }
    body = json_object_get(json_object_get(op, "requestBody"), "content");
    if ((ct = json_object_get(body, "application/json"))) {
        const json_t *ex = json_object_get(ct, "example");
        s = apr_pstrcat(p, s, " \\\n  -H 'Content-Type: application/json'",
                        " \\\n  -d ", sq(p, ex ? webot_json_dump(p, ex)
                                              : "{}"), NULL);
    }
    else if (body) {
        const char *k;
        json_object_foreach((json_t *)body, k, x) {
            s = apr_pstrcat(p, s, " \\\n  -H ", sq(p, apr_pstrcat(p,
                            "Content-Type: ", k, NULL)),
                            " --data-binary @file", NULL);
            break;
        }
    }
    return s;
}

static const char *auth_text(docs_t *d, const json_t *op)
{
    const char *scopes = webot_json_str(op, "x-webot-scopes");
    if (has_scheme(op, "bearerKey")) {
        return apr_pstrcat(d->p, "API key (Authorization: Bearer wbt_...)",
                           scopes ? " with scope " : "",
                           scopes ? scopes : "",
                           has_scheme(op, "sessionCookie")
                           ? ", or a dashboard session (cookie; "
                             "X-CSRF-Token on POST, PUT, DELETE)" : "",
                           NULL);
    }
    if (has_scheme(op, "sessionCookie")) {
        return "dashboard session cookie with X-CSRF-Token";
    }
    if (has_scheme(op, "stripeSignature")) {
        return "Stripe-Signature header (HMAC of the payload)";
    }
    if (json_array_size(json_object_get(op, "security"))) {
        return "see the OpenAPI document";
    }
    return "none (public)";
}

static void put_errors(docs_t *d, const json_t *op)
{
    const char *status, *code;
    json_t *resp, *ex;
    int any = 0;

    json_object_foreach(json_object_get(op, "responses"), status, resp) {
        if (status[0] == '2' || status[0] == '3') {
            continue;
        }
        json_object_foreach(json_object_get(json_object_get(json_object_get(
            resp, "content"), "application/json"), "examples"), code, ex) {
            const webot_error_kind_t *k = webot_error_kind(code);
            if (!any) {
                put(d, "<h4>Errors</h4>\n<table><thead><tr><th>status</th>"
                       "<th>code</th><th>suggested_action</th><th>when</th>"
                       "</tr></thead><tbody>\n");
                any = 1;
            }
            put(d, "<tr><td>");
            pute(d, status);
            put(d, "</td><td><code>");
            pute(d, code);
            put(d, "</code></td><td>");
            pute(d, k ? k->suggested_action : "");
            put(d, "</td><td>");
            pute(d, k ? k->when : webot_json_str(ex, "summary"));
            put(d, "</td></tr>\n");
        }
    }
    if (any) {
        put(d, "</tbody></table>\n");
    }
}

static void put_operation(docs_t *d, const char *path, const char *method,
                          const json_t *op)
{
    apr_pool_t *p = d->p;
    char *m = apr_pstrdup(p, method), *c;
    const char *status, *tool = webot_json_str(op, "x-mcp-tool");
    const json_t *rb, *params;
    json_t *resp, *x;
    size_t i;
    int nparams = 0;

    for (c = m; *c; c++) {
        *c = (char)apr_toupper(*c);
    }
    putf(d, "<article class=\"op\" id=\"%s\" data-method=\"%s\" "
         "data-path=\"%s\">\n", anchor(p, "op-",
                                       webot_json_str(op, "operationId")),
         m, webot_html_escape(p, path));
    putf(d, "<h3><span class=\"m m-%s\">%s</span> <code class=\"path\">",
         webot_html_escape(p, method), m);
    pute(d, path);
    put(d, "</code></h3>\n<p class=\"summary\">");
    pute(d, webot_json_str(op, "summary"));
    put(d, "</p>\n");
    put_text(d, "desc", webot_json_str(op, "description"));
    put(d, "<dl class=\"facts\"><dt>Auth</dt><dd>");
    pute(d, auth_text(d, op));
    put(d, "</dd><dt>operationId</dt><dd><code>");
    pute(d, webot_json_str(op, "operationId"));
    put(d, "</code></dd>");
    if (tool) {
        put(d, "<dt>MCP tool</dt><dd><code>");
        pute(d, tool);
        put(d, "</code></dd>");
    }
    put(d, "</dl>\n");

    params = json_object_get(op, "parameters");
    json_array_foreach(params, i, x) {
        if (!nparams++) {
            put(d, "<h4>Parameters</h4>\n<table><thead><tr><th>name</th>"
                   "<th>in</th><th>type</th><th>required</th>"
                   "<th>description</th></tr></thead><tbody>\n");
        }
        put(d, "<tr><td class=\"n\"><code>");
        pute(d, webot_json_str(x, "name"));
        put(d, "</code></td><td>");
        pute(d, webot_json_str(x, "in"));
        put(d, "</td><td>");
        put(d, type_html(d, json_object_get(x, "schema")));
        put(d, "</td><td>");
        put(d, json_is_true(json_object_get(x, "required"))
               ? "<span class=\"req\">required</span>" : "optional");
        put(d, "</td><td>");
        pute(d, webot_json_str(x, "description"));
        put(d, "</td></tr>\n");
    }
    if (nparams) {
        put(d, "</tbody></table>\n");
    }

    rb = json_object_get(op, "requestBody");
    if (rb) {
        const char *ctype;
        json_t *media;
        put(d, "<h4>Request body</h4>\n");
        json_object_foreach(json_object_get(rb, "content"), ctype, media) {
            putf(d, "<p><code>%s</code>, %s</p>\n",
                 webot_html_escape(p, ctype),
                 json_is_true(json_object_get(rb, "required"))
                 ? "required" : "optional (an empty body means {})");
            put_schema(d, json_object_get(media, "schema"));
            if (json_object_get(media, "example")) {
                put(d, "<h5>Example</h5>\n<pre>");
                pute(d, pretty(p, json_object_get(media, "example")));
                put(d, "</pre>\n");
            }
        }
    }

    json_object_foreach(json_object_get(op, "responses"), status, resp) {
        const char *ctype;
        json_t *media;
        if (status[0] != '2' && status[0] != '3') {
            continue;
        }
        putf(d, "<h4>Response %s</h4>\n<p>", webot_html_escape(p, status));
        pute(d, webot_json_str(resp, "description"));
        put(d, "</p>\n");
        json_object_foreach(json_object_get(resp, "content"), ctype, media) {
            putf(d, "<p><code>%s</code></p>\n", webot_html_escape(p, ctype));
            put_schema(d, json_object_get(media, "schema"));
            if (json_object_get(media, "example")) {
                put(d, "<h5>Example</h5>\n<pre>");
                pute(d, pretty(p, json_object_get(media, "example")));
                put(d, "</pre>\n");
            }
        }
    }
    put_errors(d, op);
    put(d, "<h4>curl</h4>\n<pre>");
    pute(d, curl_example(d, m, path, op));
    put(d, "</pre>\n</article>\n");
}

/* Calls fn for every operation of a tag (NULL tag: operations whose tag is
 * not in the document's list). */
typedef void (*op_fn)(docs_t *d, const char *path, const char *method,
                      const json_t *op);

static int known_tag(const json_t *doc, const char *tag)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "tags"), i, t) {
        const char *n = webot_json_str(t, "name");
        if (n && tag && !strcmp(n, tag)) {
            return 1;
        }
    }
    return 0;
}

static int each_op(docs_t *d, const char *tag, op_fn fn)
{
    const char *path, *method;
    json_t *item, *op;
    int n = 0;

    json_object_foreach(json_object_get(d->doc, "paths"), path, item) {
        json_object_foreach(item, method, op) {
            const char *t = json_string_value(json_array_get(
                json_object_get(op, "tags"), 0));
            if (!json_is_object(op)) {
                continue;
            }
            if (tag ? (t && !strcmp(t, tag)) : !known_tag(d->doc, t)) {
                if (fn) {
                    fn(d, path, method, op);
                }
                n++;
            }
        }
    }
    return n;
}

static void toc_entry(docs_t *d, const char *path, const char *method,
                      const json_t *op)
{
    char *m = apr_pstrdup(d->p, method), *c;
    for (c = m; *c; c++) {
        *c = (char)apr_toupper(*c);
    }
    putf(d, "<li><a href=\"#%s\"><span class=\"m m-%s\">%s</span>",
         anchor(d->p, "op-", webot_json_str(op, "operationId")),
         webot_html_escape(d->p, method), m);
    pute(d, path);
    put(d, "</a></li>\n");
}

static void put_group(docs_t *d, const char *tag, const char *desc,
                      int toc)
{
    int n = each_op(d, tag, NULL);
    if (!n) {
        return;
    }
    if (toc) {
        putf(d, "<h3>%s</h3>\n<ul>\n",
             webot_html_escape(d->p, tag ? tag : "other"));
        each_op(d, tag, toc_entry);
        put(d, "</ul>\n");
        return;
    }
    putf(d, "<section class=\"tag\" id=\"%s\">\n<h2>%s</h2>\n",
         anchor(d->p, "tag-", tag ? tag : "other"),
         webot_html_escape(d->p, tag ? tag : "other"));
    if (desc) {
        put(d, "<p>");
        pute(d, desc);
        put(d, "</p>\n");
    }
    each_op(d, tag, put_operation);
    put(d, "</section>\n");
}

webot_docs_t *webot_docs_build(apr_pool_t *p, const json_t *openapi,
                               const char **err)
{
    docs_t d = { p, apr_array_make(p, 1024, sizeof(const char *)), openapi };
    webot_docs_t *out;
    const json_t *info = json_object_get(openapi, "info");
    unsigned char sum[WEBOT_SHA256_LEN];
    char *b64;
    const char *k;
    json_t *t, *s;
    size_t i;
    int pass;

    if (!json_is_object(json_object_get(openapi, "paths"))) {
        *err = "the OpenAPI document has no paths";
        return NULL;
    }
    put(&d, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
            "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
            "content=\"width=device-width, initial-scale=1\">\n<title>");
    pute(&d, webot_json_str(info, "title"));
    put(&d, " \xe2\x80\x94 API reference</title>\n<style>");
    put(&d, STYLE);
    put(&d, "</style>\n</head>\n<body>\n<header class=\"top\">\n<h1>");
    pute(&d, webot_json_str(info, "title"));
    put(&d, "</h1>\n");
    put_text(&d, "lead", webot_json_str(info, "description"));
    put(&d, "<p>Version <code>");
    pute(&d, webot_json_str(info, "version"));
    put(&d, "</code> \xc2\xb7 the same data as <a href=\"openapi.json\">"
            "openapi.json</a> (OpenAPI ");
    pute(&d, webot_json_str(openapi, "openapi"));
    put(&d, "). The curl examples read <code>$WEBOT_BASE_URL</code> and "
            "<code>$WEBOT_API_KEY</code> from your shell (after "
            "<code>make run</code>: <code>. var/webot.env; "
            "WEBOT_API_KEY=$WEBOT_DEMO_API_KEY</code>).</p>\n</header>\n"
            "<div class=\"layout\">\n<nav class=\"toc\" aria-label=\"routes\">"
            "\n<h2>Routes</h2>\n");
    for (pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            put(&d, "<h3><a href=\"#schemas\">Schemas</a></h3>\n</nav>\n"
                    "<main>\n");
        }
        json_array_foreach(json_object_get(openapi, "tags"), i, t) {
            put_group(&d, webot_json_str(t, "name"),
                      webot_json_str(t, "description"), pass == 0);
        }
        put_group(&d, NULL, NULL, pass == 0);
    }
    put(&d, "<section id=\"schemas\">\n<h2>Schemas</h2>\n");
    json_object_foreach(json_object_get(json_object_get(openapi,
                        "components"), "schemas"), k, s) {
        putf(&d, "<article id=\"%s\">\n<h3>", anchor(p, "schema-", k));
        pute(&d, k);
        put(&d, "</h3>\n");
        put_schema(&d, s);
        put(&d, "</article>\n");
    }
    put(&d, "</section>\n</main>\n</div>\n<footer>Generated by mod_webot "
            "from its route table.</footer>\n</body>\n</html>\n");

    out = apr_pcalloc(p, sizeof(*out));
    out->html = apr_array_pstrcat(p, d.out, 0);
    out->len = strlen(out->html);
    out->routes = each_op(&d, NULL, NULL);
    json_array_foreach(json_object_get(openapi, "tags"), i, t) {
        out->routes += each_op(&d, webot_json_str(t, "name"), NULL);
    }
    webot_sha256(STYLE, sizeof(STYLE) - 1, sum);
    b64 = apr_palloc(p, (apr_size_t)apr_base64_encode_len(sizeof(sum)));
    apr_base64_encode(b64, (const char *)sum, sizeof(sum));
    out->csp = apr_pstrcat(p, "default-src 'none'; style-src 'sha256-", b64,
                           "'; img-src 'none'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'",
                           NULL);
    return out;
}
