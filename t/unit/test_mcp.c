/* test_mcp.c: C unit tests of the MCP core (webot_mcp.c) and the docs page
 * builder (webot_docs.c) on a small route table of their own: JSON-RPC
 * envelopes, version negotiation, tools generated from the OpenAPI
 * document, argument mapping, tool results, Origin checks, HTML escaping.
 * Prints TAP and exits non-zero on failure. */
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webot_error.h"
#include "webot_json.h"
#include "webot_route.h"
#include "webot_openapi.h"
#include "webot_mcp.h"
#include "webot_docs.h"

#include "tap.h"

static apr_pool_t *P;

static int is_str(const char *got, const char *want, const char *name)
{
    int c = got && want ? !strcmp(got, want) : got == want;
    if (!ok(c, "%s", name)) {
        printf("#   got: %s\n#  want: %s\n", got ? got : "(null)",
               want ? want : "(null)");
    }
    return c;
}

static const char *dump(const json_t *j)
{
    return webot_json_dump(P, j);
}

/* --- a small table ---------------------------------------------------- */

static const char *const E_ANY[] = { "NOT_FOUND", "VALIDATION_ERROR",
                                     "INTERNAL_ERROR", NULL };
static const webot_param_t LIST_PARAMS[] = {
    { "limit", "query", "{\"type\":\"integer\",\"minimum\":1,"
      "\"maximum\":100}", "Page size." },
    { "status", "query", "{\"type\":\"string\"}", "Comma list." },
    { NULL, NULL, NULL, NULL }
};
#define S_THING "{\"$ref\":\"#/components/schemas/Thing\"}"
#define S_CREATE "{\"type\":\"object\",\"additionalProperties\":false," \
    "\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":" \
    "\"string\",\"maxLength\":10},\"tags\":{\"type\":\"array\"," \
    "\"items\":{\"type\":\"string\"}}}}"

static const webot_route_t ROUTES[] = {
    { "GET", WEBOT_MOUNT_API, "/things", "listThings", "jobs",
      WEBOT_AUTH_REQUIRED, WEBOT_SCOPE_JOBS_READ, 0, "List things",
      "All <things> & more.", LIST_PARAMS, NULL, NULL, 200,
      "{\"type\":\"object\",\"properties\":{\"data\":{\"type\":\"array\","
      "\"items\":" S_THING "}}}", "{\"data\":[]}", E_ANY, "list_things",
      NULL },
    { "POST", WEBOT_MOUNT_API, "/things", "createThing", "jobs",
      WEBOT_AUTH_REQUIRED, WEBOT_SCOPE_JOBS_WRITE, WEBOT_RF_IDEMPOTENCY_REQ,
      "Create a thing", "Makes one.", NULL, S_CREATE,
      "{\"name\":\"x\"}", 201, S_THING, "{\"id\":\"thing_1\"}", E_ANY,
      "create_thing", NULL },
    { "GET", WEBOT_MOUNT_API, "/things/{id}", "getThing", "jobs",
      WEBOT_AUTH_REQUIRED, WEBOT_SCOPE_JOBS_READ, 0, "One thing", "",
      NULL, NULL, NULL, 200, S_THING, "{\"id\":\"thing_1\"}", E_ANY,
      "get_thing", NULL },
    { "GET", WEBOT_MOUNT_API, "/page", "getPage", "public",
      WEBOT_AUTH_PUBLIC, 0, WEBOT_RF_ETAG, "A page", "HTML.", NULL, NULL,
      NULL, 200, "{\"type\":\"string\",\"contentMediaType\":\"text/html\"}",
      "\"<!DOCTYPE html>\"", E_ANY, NULL, NULL },
};
#define NROUTES ((int)(sizeof(ROUTES) / sizeof(ROUTES[0])))

static const webot_named_schema_t COMPONENTS[] = {
    { "Error", "{\"type\":\"object\",\"required\":[\"error\"],"
      "\"properties\":{\"error\":{\"type\":\"object\"}}}" },
    { "Thing", "{\"type\":\"object\",\"required\":[\"id\"],\"properties\":"
      "{\"id\":{\"type\":\"string\"},\"parent\":{\"$ref\":"
      "\"#/components/schemas/Leaf\"}}}" },
    { "Leaf", "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":"
      "\"integer\"}}}" },
    { NULL, NULL }
};

static void test_versions(void)
{
    ok(webot_mcp_version_supported("2025-06-18"), "2025-06-18 supported");
    ok(webot_mcp_version_supported("2025-03-26"), "2025-03-26 supported");
    ok(webot_mcp_version_supported("2024-11-05"), "2024-11-05 supported");
    ok(webot_mcp_version_supported("2025-11-25"), "2025-11-25 supported");
    ok(!webot_mcp_version_supported("1999-01-01"), "1999-01-01 is not");
    ok(!webot_mcp_version_supported(NULL), "NULL is not");
    is_str(webot_mcp_negotiate("2025-03-26"), "2025-03-26",
           "negotiate keeps a supported version");
    is_str(webot_mcp_negotiate("2030-01-01"), webot_mcp_versions[0],
           "negotiate answers the newest for an unknown one");
    ok(webot_mcp_version_allows_batch("2025-03-26")
       && webot_mcp_version_allows_batch("2024-11-05")
       && !webot_mcp_version_allows_batch("2025-06-18")
       && !webot_mcp_version_allows_batch("2025-11-25"),
       "batches only up to 2025-03-26");
}

static void test_envelopes(void)
{
    webot_mcp_msg_t *m;
    int n, batch, rc;
    const char *why = NULL;
    const char *s;
    json_t *j;

#define PARSE(text) (why = NULL, webot_mcp_parse(P, text, strlen(text), &m, \
                                                 &n, &batch, &why))
    rc = PARSE("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
    ok(rc == 0 && n == 1 && !batch && m[0].kind == WEBOT_MCP_REQUEST
       && !strcmp(m[0].method, "ping") && json_integer_value(m[0].id) == 1,
       "a request");
    rc = PARSE("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
               "initialized\"}");
    ok(rc == 0 && m[0].kind == WEBOT_MCP_NOTIFICATION, "a notification");
    rc = PARSE("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{}}");
    ok(rc == 0 && m[0].kind == WEBOT_MCP_RESPONSE, "a client response");
    rc = PARSE("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"");
    ok(rc == WEBOT_RPC_PARSE_ERROR && why, "truncated JSON: -32700 (%s)",
       why ? why : "");
    rc = PARSE("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"x\"}");
    ok(rc == WEBOT_RPC_PARSE_ERROR, "duplicate keys: -32700");
    rc = PARSE("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}");
    ok(rc == WEBOT_RPC_PARSE_ERROR, "bad UTF-8: -32700");
    {
        /* a syntax error whose token ends inside a UTF-8 character: the
         * answer must still be a JSON-RPC error (found by fuzz_mcp) */
        const char *split = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                            "\"x\\u0\xd0\x9a\"}";
        json_t *a;
        rc = PARSE(split);
        a = webot_json_own(P, webot_mcp_error(NULL, rc, why, NULL));
        ok(rc == WEBOT_RPC_PARSE_ERROR && a
           && json_integer_value(json_object_get(json_object_get(a, "error"),
                                                 "code")) == -32700,
           "a parse error quoting half a character is still an answer");
        a = webot_json_own(P, webot_mcp_error(NULL, -32601, "Method not "
                                              "found: \xe2\x9c", NULL));
        ok(a && strstr(webot_json_str(json_object_get(a, "error"),
                                      "message"), "found: ??"),
           "a message cut inside a character is made printable");
    }
    rc = PARSE("[]");
    ok(rc == WEBOT_RPC_INVALID_REQUEST, "empty batch: -32600");
    rc = PARSE("42");
    ok(rc == 0 && m[0].kind == WEBOT_MCP_INVALID, "a number is invalid");
    rc = PARSE("{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"ping\"}");
    ok(rc == 0 && m[0].kind == WEBOT_MCP_INVALID && m[0].id
       && json_integer_value(m[0].id) == 7,
       "wrong jsonrpc: invalid, id kept for the answer");
    rc = PARSE("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}");
    ok(rc == 0 && m[0].kind == WEBOT_MCP_INVALID, "null id: invalid");
    rc = PARSE("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}");
    ok(rc == 0 && m[0].kind == WEBOT_MCP_INVALID, "fractional id: invalid");
    rc = PARSE("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\","
               "\"params\":[1]}");
    ok(rc == 0 && m[0].kind == WEBOT_MCP_INVALID, "array params: invalid");
    rc = PARSE("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":3}");
    ok(rc == 0 && m[0].kind == WEBOT_MCP_INVALID, "method not a string");
    rc = PARSE("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
               "{\"jsonrpc\":\"2.0\",\"method\":\"n\"},5]");
    ok(rc == 0 && batch && n == 3 && m[0].kind == WEBOT_MCP_REQUEST
       && m[1].kind == WEBOT_MCP_NOTIFICATION
       && m[2].kind == WEBOT_MCP_INVALID, "a batch of three");
    s = apr_pstrcat(P, "[", NULL);
    for (n = 0; n <= WEBOT_MCP_MAX_BATCH; n++) {
        s = apr_pstrcat(P, s, n ? "," : "", "{\"jsonrpc\":\"2.0\","
                        "\"method\":\"n\"}", NULL);
    }
    s = apr_pstrcat(P, s, "]", NULL);
    rc = PARSE(s);
    ok(rc == WEBOT_RPC_INVALID_REQUEST, "an oversized batch: -32600");
#undef PARSE

    j = webot_json_own(P, webot_mcp_result(NULL,
                                           json_pack("{}")));
    is_str(dump(j), "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}",
           "result with a null id");
    {
        json_t *id = webot_json_own(P, json_string("q"));
        j = webot_json_own(P, webot_mcp_error(id, -32601, "Method not found",
                                              NULL));
        is_str(dump(j), "{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"error\":"
               "{\"code\":-32601,\"message\":\"Method not found\"}}",
               "error envelope");
    }
}

static json_t *tool_named(json_t *list, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
        if (!strcmp(webot_json_str(t, "name"), name)) {
            return t;
        }
    }
    return NULL;
}

static void test_tools(const json_t *doc)
{
    const char *err = NULL;
    webot_mcp_toolset_t *ts = webot_mcp_tools_build(P, doc, &err);
    json_t *t, *in, *out;
    const webot_mcp_tool_t *tool;
    webot_mcp_call_t call;
    webot_error_t *e;
    json_t *args;

    if (!ok(ts != NULL, "tools build (%s)", err ? err : "ok")) {
        return;
    }
    ok(json_array_size(ts->list) == 3, "three tools (the page has none)");
    t = tool_named(ts->list, "list_things");
    in = json_object_get(t, "inputSchema");
    ok(t && json_is_false(json_object_get(in, "additionalProperties")),
       "list_things: additionalProperties false");
    ok(json_object_get(json_object_get(in, "properties"), "limit")
       && json_object_get(json_object_get(in, "properties"), "status")
       && !json_object_get(json_object_get(in, "properties"),
                           "X-Request-Id"),
       "list_things: the query parameters, no headers");
    is_str(webot_json_str(json_object_get(json_object_get(in, "properties"),
                                          "limit"), "description"),
           "Page size.", "parameter description carried");
    out = json_object_get(t, "outputSchema");
    ok(out && !strcmp(webot_json_str(out, "type"), "object")
       && json_array_size(json_object_get(out, "anyOf")) == 2,
       "outputSchema: object, success or error body");
    ok(!strstr(dump(out), "$ref"), "outputSchema has no $ref left");
    ok(strstr(dump(out), "\"parent\"") && strstr(dump(out), "\"n\""),
       "nested $refs inlined");
    ok(json_is_true(json_object_get(json_object_get(t, "annotations"),
                                    "readOnlyHint")),
       "a read route is readOnlyHint");

    t = tool_named(ts->list, "create_thing");
    in = json_object_get(t, "inputSchema");
    is_str(dump(json_object_get(in, "required")),
           "[\"idempotency_key\",\"name\"]",
           "create_thing: required idempotency_key and body name");
    ok(json_object_get(json_object_get(in, "properties"), "tags") != NULL,
       "create_thing: body properties merged");
    ok(json_is_false(json_object_get(json_object_get(t, "annotations"),
                                     "readOnlyHint")),
       "a write route is not readOnlyHint");

    tool = webot_mcp_tool_find(ts, "create_thing");
    ok(tool && tool->idempotency == WEBOT_MCP_IDEM_REQUIRED && tool->has_body
       && !tool->has_id && !strcmp(tool->method, "POST")
       && !strcmp(tool->operation_id, "createThing"),
       "create_thing descriptor");
    args = webot_json_own(P, json_pack("{s:s,s:s,s:[s]}", "idempotency_key",
                                       "abcdefghijklmnop", "name", "n1",
                                       "tags", "a"));
    e = webot_mcp_call_map(P, tool, args, &call);
    ok(!e && call.idempotency_key && !strcmp(call.idempotency_key,
                                             "abcdefghijklmnop")
       && !strcmp(dump(call.body), "{\"name\":\"n1\",\"tags\":[\"a\"]}")
       && !call.query && !strcmp(call.uri, "/api/v1/things"),
       "create_thing arguments mapped");
    args = webot_json_own(P, json_pack("{s:s,s:i}", "name", "x", "nmae", 1));
    e = webot_mcp_call_map(P, tool, args, &call);
    ok(e && !strcmp(e->code, "VALIDATION_ERROR") && e->param
       && !strcmp(e->param, "nmae"), "an unknown argument is named");
    e = webot_mcp_call_map(P, tool, NULL, &call);
    ok(!e && call.body && json_object_size(call.body) == 0,
       "no arguments: an empty body (the route reports what is missing)");

    tool = webot_mcp_tool_find(ts, "list_things");
    args = webot_json_own(P, json_pack("{s:i,s:s}", "limit", 5, "status",
                                       "queued,running & x"));
    e = webot_mcp_call_map(P, tool, args, &call);
    ok(!e && call.query && !strcmp(call.query,
       "limit=5&status=queued%2Crunning%20%26%20x") && !call.body,
       "query arguments encoded: %s", call.query ? call.query : "");
    args = webot_json_own(P, json_pack("{s:[i]}", "limit", 5));
    e = webot_mcp_call_map(P, tool, args, &call);
    ok(e && !strcmp(e->code, "VALIDATION_ERROR"), "an array query value");

    tool = webot_mcp_tool_find(ts, "get_thing");
    args = webot_json_own(P, json_pack("{s:s}", "id", "thing_1"));
    e = webot_mcp_call_map(P, tool, args, &call);
    ok(!e && !strcmp(call.uri, "/api/v1/things/thing_1")
       && !strcmp(call.id, "thing_1"), "id fills the path");
    e = webot_mcp_call_map(P, tool, NULL, &call);
    ok(e && !strcmp(e->code, "VALIDATION_ERROR") && e->param
       && !strcmp(e->param, "id"), "a missing id");
    args = webot_json_own(P, json_pack("{s:s}", "id", "../etc/passwd"));
    e = webot_mcp_call_map(P, tool, args, &call);
    ok(e && !strcmp(e->code, "NOT_FOUND"), "an impossible id is NOT_FOUND");
    args = webot_json_own(P, json_pack("{s:i}", "id", 5));
    e = webot_mcp_call_map(P, tool, args, &call);
    ok(e && !strcmp(e->code, "VALIDATION_ERROR"), "a numeric id");
    ok(webot_mcp_tool_find(ts, "nope") == NULL, "unknown tool not found");
}

static void test_bad_tables(void)
{
    static webot_route_t bad[2];
    const char *err = NULL;
    json_t *doc;

    bad[0] = ROUTES[0];
    bad[0].mcp_tool = "List-Things";
    doc = webot_openapi_build(P, bad, 1, COMPONENTS, &err);
    ok(!doc && err && strstr(err, "List-Things"),
       "a tool name outside [a-z_] stops the build (%s)", err ? err : "");
    bad[0] = ROUTES[0];
    bad[1] = ROUTES[2];
    bad[1].mcp_tool = "list_things";
    err = NULL;
    doc = webot_openapi_build(P, bad, 2, COMPONENTS, &err);
    ok(!doc && err && strstr(err, "twice"),
       "a tool name used twice stops the build (%s)", err ? err : "");
    ok(webot_mcp_tool_name_valid("get_job") && !webot_mcp_tool_name_valid("")
       && !webot_mcp_tool_name_valid("_x") && !webot_mcp_tool_name_valid("a1")
       && !webot_mcp_tool_name_valid("getJob"), "tool name syntax");
}

static void test_results(void)
{
    json_t *r;
    const char *okbody = "{\"id\":\"x\"}";
    const char *ebody = "{\"error\":{\"code\":\"NOT_FOUND\"}}";

    r = webot_json_own(P, webot_mcp_tool_result(201, okbody,
                                                strlen(okbody)));
    is_str(dump(r), "{\"content\":[{\"type\":\"text\",\"text\":"
           "\"{\\\"id\\\":\\\"x\\\"}\"}],\"isError\":false,"
           "\"structuredContent\":{\"id\":\"x\"}}", "a success result");
    r = webot_json_own(P, webot_mcp_tool_result(404, ebody, strlen(ebody)));
    ok(json_is_true(json_object_get(r, "isError"))
       && !strcmp(webot_json_str(json_object_get(json_object_get(r,
                  "structuredContent"), "error"), "code"), "NOT_FOUND"),
       "an error result carries the error body");
    r = webot_json_own(P, webot_mcp_tool_result(200, "[1]", 3));
    ok(!json_object_get(r, "structuredContent"),
       "a non-object answer has text only");
}

static void test_origin(void)
{
    ok(webot_mcp_origin_ok(P, "http://127.0.0.1:8080", "127.0.0.1:8080", 0),
       "same origin");
    ok(webot_mcp_origin_ok(P, "http://LocalHost", "localhost:80", 0),
       "default port and case normalized");
    ok(webot_mcp_origin_ok(P, "https://h.example", "h.example:443", 1),
       "https default port");
    ok(!webot_mcp_origin_ok(P, "http://evil.example", "127.0.0.1:8080", 0),
       "foreign host");
    ok(!webot_mcp_origin_ok(P, "http://127.0.0.1:8081", "127.0.0.1:8080", 0),
       "other port");
    ok(!webot_mcp_origin_ok(P, "https://127.0.0.1:8080", "127.0.0.1:8080",
                            0), "other scheme");
    ok(!webot_mcp_origin_ok(P, "null", "127.0.0.1:8080", 0), "null origin");
    ok(!webot_mcp_origin_ok(P, "http://127.0.0.1:8080/x", "127.0.0.1:8080",
                            0), "origin with a path");
    ok(!webot_mcp_origin_ok(P, "http://u@127.0.0.1:8080", "127.0.0.1:8080",
                            0), "origin with userinfo");
    ok(webot_mcp_origin_ok(P, "http://[::1]:8080", "[::1]:8080", 0),
       "IPv6 literal");
    ok(!webot_mcp_origin_ok(P, "http://127.0.0.1:8080", NULL, 0),
       "no Host");
}

static void test_docs(const json_t *doc)
{
    const char *err = NULL;
    webot_docs_t *d = webot_docs_build(P, doc, &err);
    if (!ok(d != NULL, "docs build (%s)", err ? err : "ok")) {
        return;
    }
    ok(d->routes == NROUTES, "every operation rendered (%d)", d->routes);
    ok(strstr(d->html, "id=\"op-listThings\"")
       && strstr(d->html, "id=\"op-createThing\"")
       && strstr(d->html, "id=\"op-getThing\"")
       && strstr(d->html, "id=\"op-getPage\""), "an anchor per operation");
    ok(strstr(d->html, "All &lt;things&gt; &amp; more.") != NULL,
       "descriptions are escaped");
    ok(!strstr(d->html, "<things>"), "no raw markup from the data");
    ok(!strstr(d->html, "<script") && !strstr(d->html, "src="),
       "no script, no external source");
    ok(strstr(d->html, "Idempotency-Key") && strstr(d->html, "curl -sS -X "
       "POST &quot;$WEBOT_BASE_URL/api/v1/things&quot;"),
       "curl example with the method, URL and Idempotency-Key");
    ok(strstr(d->html, "/api/v1/things/thing_") == NULL
       || strstr(d->html, "id_2b7qfj") != NULL, "an example id in paths");
    ok(strstr(d->html, "id=\"schema-Thing\"")
       && strstr(d->html, "href=\"#schema-Leaf\""),
       "component schemas with links");
    ok(strstr(d->html, "<code>NOT_FOUND</code>") != NULL, "error codes");
    ok(strstr(d->csp, "default-src 'none'") && strstr(d->csp,
       "style-src 'sha256-"), "CSP allows only the inline style: %s",
       d->csp);
    ok(strstr(d->html, "<td class=\"n\"><code>tags</code></td><td>array of"
              " string") != NULL, "array property types");
    is_str(webot_html_escape(P, "<a href=\"x\">'&'</a>"),
           "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
           "webot_html_escape");
}

int main(void)
{
    const char *err = NULL;
    json_t *doc;

    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&P, NULL);

    test_versions();
    test_envelopes();
    doc = webot_openapi_build(P, ROUTES, NROUTES, COMPONENTS, &err);
    if (ok(doc != NULL, "OpenAPI document of the test table (%s)",
           err ? err : "ok")) {
        json_t *page = json_object_get(json_object_get(json_object_get(
            json_object_get(json_object_get(json_object_get(doc, "paths"),
            "/api/v1/page"), "get"), "responses"), "200"), "content");
        ok(json_object_get(page, "text/html") != NULL
           && !json_object_get(page, "application/json"),
           "contentMediaType sets the response media type");
        is_str(webot_json_str(json_object_get(json_object_get(json_object_get(
            doc, "paths"), "/api/v1/things"), "get"), "x-mcp-tool"),
            "list_things", "x-mcp-tool marks a tool");
        test_tools(doc);
        test_docs(doc);
    }
    test_bad_tables();
    test_results();
    test_origin();

    printf("1..%d\n", ntests);
    if (nfailed) {
        printf("# %d of %d failed\n", nfailed, ntests);
    }
    apr_pool_destroy(P);
    return nfailed ? 1 : 0;
}
