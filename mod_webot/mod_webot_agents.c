/* mod_webot_agents.c: the agent surface. POST /api/v1/mcp speaks the Model
 * Context Protocol (Streamable HTTP transport, JSON answers) with tools
 * generated from the OpenAPI document; a tool call runs its route's
 * handler in-process on a copy of the request whose answer is captured
 * (webot_req_t.capture) instead of sent. GET /api/v1/docs serves the HTML
 * page rendered from the same document. Protocol logic is in the core
 * (webot_mcp.c, webot_docs.c). */
#include "mod_webot.h"
#include "mod_webot_agents.h"
#include "webot_mcp.h"
#include "webot_docs.h"

#include <apr_strings.h>
#include <pthread.h>

#define SERVER_NAME    "mod_webot"
#define SERVER_VERSION "1.0.0"

/* --- built once per process from the OpenAPI document ----------------- */

static struct {
    apr_pool_t *pool;
    webot_mcp_toolset_t *tools;
    const char *tools_text;         /* the tools/list "tools" array */
    webot_docs_t *docs;
    const char *docs_etag;
    const char *err;
} g;
static pthread_once_t agents_once = PTHREAD_ONCE_INIT;

static void agents_init(void)
{
    apr_size_t len;
    const char *etag, *text = webot_openapi_json(&len, &etag);
    const char *err = NULL;
    unsigned char sum[WEBOT_SHA256_LEN];
    json_error_t je;
    json_t *doc;

    if (apr_pool_create_unmanaged_ex(&g.pool, NULL, NULL) != APR_SUCCESS) {
        g.err = "cannot create a pool";
        return;
    }
    apr_pool_tag(g.pool, "webot_agents");
    doc = text ? webot_json_own(g.pool, json_loadb(text, len, 0, &je))
               : NULL;
    if (!doc) {
        g.err = "the OpenAPI document is not available";
        return;
    }
    if (!(g.tools = webot_mcp_tools_build(g.pool, doc, &err))) {
        g.err = apr_pstrcat(g.pool, "MCP tools: ", err, NULL);
        return;
    }
    g.tools_text = webot_json_dump(g.pool, g.tools->list);
    if (!(g.docs = webot_docs_build(g.pool, doc, &err))) {
        g.err = apr_pstrcat(g.pool, "docs page: ", err, NULL);
        return;
    }
    webot_sha256(g.docs->html, g.docs->len, sum);
    g.docs_etag = apr_pstrcat(g.pool, "\"", webot_hex(g.pool, sum, 16),
                              "\"", NULL);
}

/* 1 when the tools and the page are ready; else logs and answers. */
static int agents_ready(webot_req_t *wr)
{
    pthread_once(&agents_once, agents_init);
    if (g.err || !g.tools || !g.docs) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, wr->r, APLOGNO(30600)
                      "agent surface unavailable: %s (request_id %s)",
                      g.err ? g.err : "not built", wr->request_id);
        return 0;
    }
    return 1;
}

/* --- the docs page ------------------------------------------------------ */

int webot_h_docs(webot_req_t *wr)
{
    request_rec *r = wr->r;
    if (!agents_ready(wr)) {
        return webot_fail(wr, "INTERNAL_ERROR", "The documentation page "
                          "could not be built.");
    }
    apr_table_setn(r->headers_out, "Content-Security-Policy", g.docs->csp);
    apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    return webot_send_bytes(wr, HTTP_OK, "text/html; charset=utf-8",
                            g.docs->html, g.docs->len, g.docs_etag);
}

/* --- tool calls: the route in-process ------------------------------------ */

/* Whose connection the calls of one MCP request share: the request's own
 * (acquired by the access gate), or the sub-context that had to acquire a
 * fresh one after a lost connection. Exactly one context owns it;
 * webot_h_mcp gives it back when the answer is out. */
typedef struct {
    webot_req_t *owner;
} dbshare_t;

static int sub_route(webot_req_t *wr, webot_req_t *sub)
{
    const webot_route_t *rt = sub->route;
    int rc;

    if (rt->flags & WEBOT_RF_RAW_BODY) {
        return webot_fail(sub, "INTERNAL_ERROR", "This route cannot run "
                          "as a tool.");
    }
    if (rt->method[0] == 'P') {
        const json_t *schema = webot_route_request_schema(rt);
        if (!sub->body) {
            sub->body = webot_json_own(sub->p, json_object());
            sub->raw_body = "{}";
            sub->raw_len = 2;
        }
        if (schema && !(rt->flags & WEBOT_RF_SELF_VALIDATE)) {
            webot_error_t *e = webot_error_make(sub->p, "VALIDATION_ERROR",
                "The request body is not valid.");
            if (webot_schema_validate(sub->p, schema, sub->body, "", e)) {
                return webot_send_error(sub, e);
            }
        }
    }
    if (rt->auth != WEBOT_AUTH_PUBLIC) {
        /* the MCP request was authenticated (and counted against the rate
         * limit) by the gate; the tool's route needs its own scope, role
         * and entitlement */
        sub->auth = wr->auth;
        rc = webot_access_authorize(sub);
        if (rc != OK || sub->sent) {
            return rc;
        }
    }
    return rt->handler(sub);
}

static const webot_route_t *route_of(const char *operation_id)
{
    int i;
    for (i = 0; i < webot_routes_count; i++) {
        if (!strcmp(webot_routes[i].operation_id, operation_id)) {
            return &webot_routes[i];
        }
    }
    return NULL;
}

/* Runs rt for the mapped call on a copy of the request; the answer lands in
 * cap. Sub-request headers: the caller's (credentials, CSRF token), less
 * conditionals and body headers, Accept: application/json (a JSON answer,
 * never an event stream), and Idempotency-Key from the arguments. */
static void run_tool_route(webot_req_t *wr, const webot_route_t *rt,
                           const webot_mcp_call_t *c, dbshare_t *share,
                           webot_capture_t *cap, apr_table_t **hout)
{
    apr_pool_t *p = wr->p;
    request_rec *r = wr->r;
    request_rec *sr = apr_pmemdup(p, r, sizeof(*r));
    webot_req_t *sub = apr_pcalloc(p, sizeof(*sub));
    static const char *const drop[] = { "Idempotency-Key", "If-None-Match",
        "If-Match", "If-Modified-Since", "If-Unmodified-Since", "Range",
        "If-Range", "Last-Event-ID", "Content-Type", "Content-Length",
        "Transfer-Encoding", "Content-Encoding", NULL };
    const char *const *h;
    int rc;

    sr->method = rt->method;
    sr->method_number = ap_method_number_of(rt->method);
    sr->header_only = 0;
    sr->uri = apr_pstrdup(p, c->uri);
    sr->args = c->query ? apr_pstrdup(p, c->query) : NULL;
    sr->unparsed_uri = c->query ? apr_pstrcat(p, c->uri, "?", c->query,
                                              NULL) : sr->uri;
    sr->headers_in = apr_table_copy(p, r->headers_in);
    for (h = drop; *h; h++) {
        apr_table_unset(sr->headers_in, *h);
    }
    apr_table_setn(sr->headers_in, "Accept", "application/json");
    if (c->idempotency_key) {
        apr_table_setn(sr->headers_in, "Idempotency-Key",
                       c->idempotency_key);
    }
    sr->headers_out = apr_table_make(p, 8);
    sr->err_headers_out = apr_table_make(p, 4);
    sr->status = HTTP_OK;
    sr->content_type = NULL;

    sub->r = sr;
    sub->p = p;
    sub->sc = wr->sc;
    sub->route = rt;
    sub->id = c->id;
    sub->request_id = wr->request_id;
    if (c->body) {
        apr_table_setn(sr->headers_in, "Content-Type", "application/json");
        sub->body = c->body;
        sub->raw_body = webot_json_dump(p, c->body);
        sub->raw_len = strlen(sub->raw_body);
    }
    /* the connection only: its handle (dbd) stays with the owner, so a
     * handler that gives its connection back early (webot_req_db_release)
     * only lets go of it here and can never return it to mod_dbd twice */
    sub->db = share->owner->db;
    sub->capture = cap;

    rc = sub_route(wr, sub);
    if (rc == WEBOT_AGAIN) {
        /* the connection died before anything was answered: give it back
         * through whoever owns it and run once more on a fresh one */
        webot_req_t *o = sub->db && sub->db != share->owner->db
                         ? sub : share->owner;
        if (o->db) {
            webot_req_db_release(o);
        }
        sub->db = NULL;
        sub->dbd = NULL;
        sub->attempt = 1;
        sub->sent = 0;
        memset(cap, 0, sizeof(*cap));
        rc = sub_route(wr, sub);
        if (rc == WEBOT_AGAIN) {
            webot_send_error(sub, webot_db_error(p, WEBOT_DB_DOWN));
        }
    }
    if (sub->db && sub->db != share->owner->db) {
        share->owner = sub;         /* it acquired the connection */
    }
    if (!cap->status) {
        /* the handler answered nothing (a bug): the contract's 500 */
        sub->sent = 0;
        webot_fail(sub, "INTERNAL_ERROR", "The tool's route gave no answer.");
    }
    *hout = sr->headers_out;
}

/* --- JSON-RPC methods ---------------------------------------------------- */

static json_t *rpc_error(json_t *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *rpc_error(json_t *id, int code, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return webot_mcp_error(id, code, buf, NULL);
}

static json_t *do_initialize(webot_req_t *wr, const webot_mcp_msg_t *m)
{
    const char *want = webot_json_str(m->params, "protocolVersion");
    const char *v;
    (void)wr;
    if (!want) {
        return rpc_error(m->id, WEBOT_RPC_INVALID_PARAMS,
                         "initialize needs params.protocolVersion");
    }
    v = webot_mcp_negotiate(want);
    return webot_mcp_result(m->id, json_pack(
        "{s:s,s:{s:{s:b}},s:{s:s,s:s,s:s},s:s}",
        "protocolVersion", v,
        "capabilities", "tools", "listChanged", 0,
        "serverInfo", "name", SERVER_NAME, "title", "WeBot API",
        "version", SERVER_VERSION,
        "instructions",
        "WeBot jobs API. Start with get_catalog and check_intent (no "
        "quota), then create_job with a fresh idempotency_key (reuse it "
        "when you retry the same job). A result with isError carries the "
        "API's error body: follow error.suggested_action (retry, wait, "
        "revise_request, upgrade_plan, ask_human, reauthenticate, none)."));
}

static json_t *do_tools_call(webot_req_t *wr, const webot_mcp_msg_t *m,
                             dbshare_t *share)
{
    const char *name = webot_json_str(m->params, "name");
    json_t *args = json_object_get(m->params, "arguments");
    const webot_mcp_tool_t *tool;
    const webot_route_t *rt;
    webot_mcp_call_t call;
    webot_capture_t cap;
    webot_error_t *e;
    apr_table_t *hout = NULL;
    json_t *res;

    if (!name) {
        return rpc_error(m->id, WEBOT_RPC_INVALID_PARAMS,
                         "tools/call needs params.name");
    }
    if (!(tool = webot_mcp_tool_find(g.tools, name))) {
        return rpc_error(m->id, WEBOT_RPC_INVALID_PARAMS,
                         "Unknown tool: %.100s", name);
    }
    if (args && !json_is_object(args) && !json_is_null(args)) {
        return rpc_error(m->id, WEBOT_RPC_INVALID_PARAMS,
                         "params.arguments must be an object");
    }
    if (!(rt = route_of(tool->operation_id))) {
        return rpc_error(m->id, WEBOT_RPC_INTERNAL_ERROR,
                         "The tool's route is missing.");
    }
    memset(&cap, 0, sizeof(cap));
    e = webot_mcp_call_map(wr->p, tool, json_is_object(args) ? args : NULL,
                           &call);
    if (e) {
        json_t *body = webot_json_own(wr->p,
                                      webot_error_json(e, wr->request_id));
        cap.status = e->status;
        cap.body = webot_json_dump(wr->p, body);
        cap.len = strlen(cap.body);
    }
    else {
        run_tool_route(wr, rt, &call, share, &cap, &hout);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, wr->r, APLOGNO(30601)
                  "MCP tools/call %s (%s %s) -> %d (request_id %s)", name,
                  rt->method, tool->path, cap.status, wr->request_id);
    res = webot_mcp_tool_result(cap.status, cap.body, cap.len);
    json_object_set_new(res, "_meta", json_pack("{s:i}", "status",
                                                cap.status));
    if (hout && apr_table_get(hout, "Idempotent-Replayed")) {
        json_object_set_new(json_object_get(res, "_meta"),
                            "idempotent_replayed", json_true());
    }
    return webot_mcp_result(m->id, res);
}

/* The answer to one message (new reference), or NULL when it needs none. */
static json_t *handle(webot_req_t *wr, const webot_mcp_msg_t *m, int batch,
                      dbshare_t *share)
{
    switch (m->kind) {
    case WEBOT_MCP_INVALID:
        return rpc_error(m->id, WEBOT_RPC_INVALID_REQUEST,
                         "Invalid Request: %s", m->problem);
    case WEBOT_MCP_NOTIFICATION:
    case WEBOT_MCP_RESPONSE:
        return NULL;
    case WEBOT_MCP_REQUEST:
        break;
    }
    if (!strcmp(m->method, "initialize")) {
        if (batch) {
            return rpc_error(m->id, WEBOT_RPC_INVALID_REQUEST,
                             "initialize must not be part of a batch");
        }
        return do_initialize(wr, m);
    }
    if (!strcmp(m->method, "ping")) {
        return webot_mcp_result(m->id, json_object());
    }
    if (!strcmp(m->method, "tools/list")) {
        json_t *cursor = json_object_get(m->params, "cursor");
        if (cursor && !json_is_null(cursor)) {
            /* one page only: no cursor was ever handed out */
            return rpc_error(m->id, WEBOT_RPC_INVALID_PARAMS,
                             "Invalid cursor");
        }
        return webot_mcp_result(m->id, json_pack("{s:o}", "tools",
                                json_loads(g.tools_text, 0, NULL)));
    }
    if (!strcmp(m->method, "tools/call")) {
        return do_tools_call(wr, m, share);
    }
    return rpc_error(m->id, WEBOT_RPC_METHOD_NOT_FOUND,
                     "Method not found: %.100s", m->method);
}

static int is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    apr_size_t n = sizeof(want) - 1;
    if (!ct || strncasecmp(ct, want, n)) {
        return 0;
    }
    ct += n;
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    return *ct == '\0' || *ct == ';';
}

static int send_rpc(webot_req_t *wr, json_t *answer)
{
    return webot_send_json(wr, HTTP_OK, webot_json_own(wr->p, answer));
}

static int mcp_answer(webot_req_t *wr, dbshare_t *sharep);

/* The calls may have moved the shared connection to a sub-context; it is
 * given back here, when the answer is out, like the dispatcher does with
 * the request's own (not at request-pool cleanup). */
int webot_h_mcp(webot_req_t *wr)
{
    dbshare_t share;
    int rc;

    share.owner = wr;
    rc = mcp_answer(wr, &share);
    if (share.owner != wr && share.owner->db) {
        webot_req_db_release(share.owner);
    }
    return rc;
}

static int mcp_answer(webot_req_t *wr, dbshare_t *sharep)
{
    request_rec *r = wr->r;
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *pv = apr_table_get(r->headers_in, "MCP-Protocol-Version");
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_off_t max = wr->sc->max_body > 0 ? wr->sc->max_body : 65536;
    const char *why = NULL;
    webot_mcp_msg_t *msgs;
    webot_error_t *e;
    json_t *answers;
    int n, batch, rc, i;

    /* DNS rebinding: a browser page of another origin must not drive the
     * endpoint with the user's cookie */
    if (origin && !webot_mcp_origin_ok(wr->p, origin,
                                       apr_table_get(r->headers_in, "Host"),
                                       !strcmp(ap_http_scheme(r), "https"))) {
        return webot_fail(wr, "FORBIDDEN", "The Origin %s is not this "
                          "server; cross-origin MCP requests are refused.",
                          ap_escape_logitem(wr->p, origin));
    }
    if (pv && !webot_mcp_version_supported(pv)) {
        e = webot_error_make(wr->p, "BAD_REQUEST", "MCP-Protocol-Version "
                             "%s is not supported; supported: %s, %s, %s, "
                             "%s.", ap_escape_logitem(wr->p, pv),
                             webot_mcp_versions[0], webot_mcp_versions[1],
                             webot_mcp_versions[2], webot_mcp_versions[3]);
        e->param = "MCP-Protocol-Version";
        return webot_send_error(wr, e);
    }
    if (!is_json_type(ct)) {
        return webot_fail(wr, "UNSUPPORTED_MEDIA_TYPE", "An MCP message "
                          "must be sent as application/json.");
    }
    if ((e = webot_read_raw_body(wr, max))) {
        return webot_send_error(wr, e);
    }
    if (!agents_ready(wr)) {
        return webot_fail(wr, "INTERNAL_ERROR", "The MCP tools could not "
                          "be built.");
    }
    rc = webot_mcp_parse(wr->p, wr->raw_body, wr->raw_len, &msgs, &n,
                         &batch, &why);
    if (rc) {
        return send_rpc(wr, rpc_error(NULL, rc, "%s: %s",
                                      rc == WEBOT_RPC_PARSE_ERROR
                                      ? "Parse error" : "Invalid Request",
                                      why));
    }
    if (batch && !webot_mcp_version_allows_batch(
                     pv ? pv : WEBOT_MCP_DEFAULT_VERSION)) {
        return send_rpc(wr, rpc_error(NULL, WEBOT_RPC_INVALID_REQUEST,
                        "Invalid Request: protocol version %s has no "
                        "JSON-RPC batches", pv));
    }
    if (!batch && msgs[0].kind == WEBOT_MCP_REQUEST
        && !strcmp(msgs[0].method, "tools/list")
        && !json_object_get(msgs[0].params, "cursor")) {
        /* the common case, spliced from the text made at start-up rather
         * than parsed and dumped again (35 kB for a full table) */
        const char *out = apr_pstrcat(wr->p, "{\"jsonrpc\":\"2.0\",\"id\":",
                                      webot_json_dump(wr->p, msgs[0].id),
                                      ",\"result\":{\"tools\":",
                                      g.tools_text, "}}", NULL);
        return webot_send_bytes(wr, HTTP_OK, "application/json", out,
                                strlen(out), NULL);
    }
    if (!batch) {
        json_t *a = handle(wr, &msgs[0], 0, sharep);
        if (!a) {
            return webot_send_bytes(wr, HTTP_ACCEPTED, "application/json",
                                    "", 0, NULL);
        }
        return send_rpc(wr, a);
    }
    answers = json_array();
    for (i = 0; i < n; i++) {
        json_t *a = handle(wr, &msgs[i], 1, sharep);
        if (a) {
            json_array_append_new(answers, a);
        }
    }
    if (!json_array_size(answers)) {
        json_decref(answers);
        return webot_send_bytes(wr, HTTP_ACCEPTED, "application/json", "",
                                0, NULL);
    }
    return send_rpc(wr, answers);
}
