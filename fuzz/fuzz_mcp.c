/* fuzz_mcp.c: the MCP endpoint's core (webot_mcp.c) with bytes from an
 * agent: JSON-RPC envelopes (one message or a batch), tools/call arguments
 * mapped onto routes by the real tool set (built from the OpenAPI
 * document of the real route table, build-fuzz/gen/fuzz_routes.h), the
 * Origin check, and tool results made from a route's answer.
 *
 *   input = byte 0: mode, then
 *     mode 0: a POST /mcp body: webot_mcp_parse; for each tools/call
 *             request the tool is looked up and its arguments mapped;
 *             every answer envelope is built and rendered
 *     mode 1: byte 1 picks a tool, the rest is its arguments (JSON)
 *     mode 2: Origin, NUL, Host; byte 1 bit 0: https
 *     mode 3: bytes 1-2 an HTTP status, the rest a route's answer body
 *
 * Properties: a parsed batch has 1..32 messages and a non-batch exactly
 * one; INVALID messages say why; REQUEST has an id (string or integer)
 * and a method; a mapped call's uri is the tool's path with {id} filled by
 * a 1..64 [A-Za-z0-9_-] id, and its query holds only unreserved bytes,
 * %XX, '=' and '&'; an accepted Origin has the right scheme; a result is
 * an error exactly when the status is outside 2xx. */
#include "fuzz_common.h"
#include "fuzz_routes.h"

#include <apr_lib.h>

#include "webot_json.h"
#include "webot_mcp.h"

static webot_mcp_toolset_t *tools;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    json_error_t je;
    json_t *doc;
    const char *err = NULL;
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    doc = webot_json_own(fuzz_root, json_loads(fuzz_openapi, 0, &je));
    if (!doc) {
        fprintf(stderr, "OpenAPI document: %s\n", je.text);
        abort();
    }
    tools = webot_mcp_tools_build(fuzz_root, doc, &err);
    if (!tools || !tools->tools->nelts) {
        fprintf(stderr, "MCP tools: %s\n", err ? err : "none");
        abort();
    }
    return 0;
}

static int id_ok(const char *id)
{
    size_t n = strlen(id), i;
    for (i = 0; i < n; i++) {
        if (!apr_isalnum(id[i]) && id[i] != '_' && id[i] != '-') {
            return 0;
        }
    }
    return n >= 1 && n <= 64;
}

static void render(apr_pool_t *p, json_t *j)
{
    CHECK(j != NULL);
    webot_json_own(p, j);
    CHECK(webot_json_dump(p, j) != NULL);
}

static void call(apr_pool_t *p, const webot_mcp_tool_t *t, const json_t *args)
{
    webot_mcp_call_t c;
    webot_error_t *e = webot_mcp_call_map(p, t, args, &c);
    if (e) {
        render(p, webot_error_json(e, "fuzz"));
        return;
    }
    CHECK(c.uri != NULL);
    if (t->has_id) {
        const char *at = strstr(t->path, "{id}");
        CHECK(c.id && id_ok(c.id));
        if (at) {
            size_t pre = (size_t)(at - t->path);
            CHECK(!strncmp(c.uri, t->path, pre)
                  && !strncmp(c.uri + pre, c.id, strlen(c.id))
                  && !strcmp(c.uri + pre + strlen(c.id), at + 4));
        }
    }
    else {
        CHECK(!strcmp(c.uri, t->path));
    }
    if (c.query) {
        const char *q;
        for (q = c.query; *q; q++) {
            CHECK(apr_isalnum(*q) || strchr("-._~%=&", *q));
        }
    }
    CHECK(!t->has_body == !c.body);
    if (c.body) {
        CHECK(json_is_object(c.body));
        CHECK(webot_json_dump(p, c.body) != NULL);
    }
}

static void envelopes(apr_pool_t *p, const char *buf, size_t len)
{
    webot_mcp_msg_t *msgs = NULL;
    const char *why = NULL;
    int n = -1, batch = -1, rc, i;

    rc = webot_mcp_parse(p, buf, len, &msgs, &n, &batch, &why);
    if (rc) {
        CHECK(rc == WEBOT_RPC_PARSE_ERROR || rc == WEBOT_RPC_INVALID_REQUEST);
        CHECK(why != NULL);
        render(p, webot_mcp_error(NULL, rc, why, NULL));
        return;
    }
    CHECK(msgs != NULL);
    CHECK(batch ? n >= 1 && n <= WEBOT_MCP_MAX_BATCH : n == 1);
    for (i = 0; i < n; i++) {
        webot_mcp_msg_t *m = &msgs[i];
        switch (m->kind) {
        case WEBOT_MCP_INVALID:
            CHECK(m->problem != NULL);
            render(p, webot_mcp_error(m->id, WEBOT_RPC_INVALID_REQUEST,
                                      m->problem, NULL));
            break;
        case WEBOT_MCP_REQUEST:
            CHECK(m->id && (json_is_string(m->id) || json_is_integer(m->id)));
            /* fall through */
        case WEBOT_MCP_NOTIFICATION:
            CHECK(m->method != NULL);
            CHECK(!m->params || json_is_object(m->params));
            if (!strcmp(m->method, "tools/call")) {
                const char *name = webot_json_str(m->params, "name");
                const webot_mcp_tool_t *t = name
                    ? webot_mcp_tool_find(tools, name) : NULL;
                json_t *args = json_object_get(m->params, "arguments");
                if (t && (!args || json_is_object(args))) {
                    call(p, t, args);
                }
            }
            else if (!strcmp(m->method, "initialize")) {
                const char *v = webot_json_str(m->params, "protocolVersion");
                CHECK(webot_mcp_version_supported(webot_mcp_negotiate(v)));
            }
            render(p, webot_mcp_result(m->id, json_object()));
            break;
        case WEBOT_MCP_RESPONSE:
            CHECK(m->id != NULL);
            break;
        default:
            CHECK(!"unknown message kind");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *f[2], *why;
    if (size < 2) {
        return 0;
    }
    p = fuzz_pool();
    switch (data[0] % 4) {
    case 0:
        envelopes(p, (const char *)data + 1, size - 1);
        break;
    case 1: {
        const webot_mcp_tool_t *t = &APR_ARRAY_IDX(tools->tools,
            data[1] % tools->tools->nelts, webot_mcp_tool_t);
        json_t *args = NULL;
        if (size > 2) {
            args = webot_json_parse(p, (const char *)data + 2, size - 2,
                                    &why);
            if (!args || !json_is_object(args)) {
                break;
            }
        }
        call(p, t, args);
        break;
    }
    case 2: {
        int https = data[1] & 1, ok;
        fuzz_fields(p, data + 2, size - 2, f, 2);
        ok = webot_mcp_origin_ok(p, f[0], f[1], https);
        if (ok) {
            CHECK(!strncasecmp(f[0], https ? "https://" : "http://",
                               https ? 8 : 7));
        }
        /* an Origin made of the Host itself is always acceptable */
        if (*f[1] && !strpbrk(f[1], "/?#@ \t")) {
            CHECK(webot_mcp_origin_ok(p, apr_pstrcat(p, https ? "https://"
                                                     : "http://", f[1],
                                                     NULL), f[1], https));
        }
        break;
    }
    default: {
        int status = size > 2 ? (data[1] << 8 | data[2]) % 600 : 200;
        const char *body = size > 3 ? (const char *)data + 3 : "";
        size_t len = size > 3 ? size - 3 : 0;
        json_t *probe = json_loadb(body, len, 0, NULL);
        json_t *res = webot_mcp_tool_result(status, body, len);
        /* route answers are jansson's own output: valid JSON, valid UTF-8 */
        if (probe) {
            CHECK(res != NULL);
            CHECK(json_is_true(json_object_get(res, "isError"))
                  == !(status >= 200 && status < 300));
        }
        json_decref(probe);
        json_decref(res);
        break;
    }
    }
    apr_pool_destroy(p);
    return 0;
}
