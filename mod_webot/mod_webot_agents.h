/* mod_webot_agents.h: schemas, error lists and handlers of the agent
 * surface: the MCP endpoint and the docs page (rows in routes_agents.inc).
 * Everything else they show is generated from the route table. */
#ifndef MOD_WEBOT_AGENTS_H
#define MOD_WEBOT_AGENTS_H

/* One JSON-RPC 2.0 message as MCP uses it. */
#define S_MCP_MESSAGE \
    "{\"type\":\"object\",\"required\":[\"jsonrpc\"],\"properties\":{" \
    "\"jsonrpc\":{\"const\":\"2.0\"}," \
    "\"id\":{\"type\":[\"string\",\"integer\"],\"description\":\"Present " \
      "on requests (answered) and absent on notifications (202, no " \
      "body).\"}," \
    "\"method\":{\"type\":\"string\",\"enum\":[\"initialize\"," \
      "\"notifications/initialized\",\"ping\",\"tools/list\"," \
      "\"tools/call\"],\"description\":\"Other notifications are " \
      "accepted and ignored; other methods answer -32601.\"}," \
    "\"params\":{\"type\":\"object\",\"description\":\"tools/call: " \
      "{\\\"name\\\":TOOL,\\\"arguments\\\":{...}}; initialize: " \
      "{\\\"protocolVersion\\\",\\\"capabilities\\\",\\\"clientInfo\\\"}" \
      ".\"}}}"

#define S_MCP_REQUEST \
    "{\"description\":\"A JSON-RPC 2.0 message, or (protocol versions up " \
    "to 2025-03-26) a batch of them.\",\"anyOf\":[" S_MCP_MESSAGE "," \
    "{\"type\":\"array\",\"minItems\":1,\"maxItems\":32,\"items\":" \
    S_MCP_MESSAGE "}]}"

#define X_MCP_REQUEST \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{" \
    "\"name\":\"get_catalog\",\"arguments\":{}}}"

#define S_MCP_ANSWER_ONE \
    "{\"type\":\"object\",\"required\":[\"jsonrpc\",\"id\"],\"properties\":{" \
    "\"jsonrpc\":{\"const\":\"2.0\"}," \
    "\"id\":{\"type\":[\"string\",\"integer\",\"null\"]}," \
    "\"result\":{\"type\":\"object\",\"description\":\"tools/call: " \
      "{content:[{type:text,text}], structuredContent, isError}; " \
      "isError is true when the route answered an error, and then " \
      "structuredContent is the contract's error body.\"}," \
    "\"error\":{\"type\":\"object\",\"required\":[\"code\",\"message\"]," \
      "\"properties\":{\"code\":{\"type\":\"integer\",\"description\":" \
      "\"-32700 parse error, -32600 invalid request, -32601 unknown " \
      "method, -32602 invalid params or unknown tool.\"}," \
      "\"message\":{\"type\":\"string\"},\"data\":{}}}}}"

#define S_MCP_ANSWER \
    "{\"description\":\"The JSON-RPC response (an array for a batch). A " \
    "message without an id (notification or response) is answered 202 " \
    "with no body.\",\"anyOf\":[" S_MCP_ANSWER_ONE ",{\"type\":\"array\"," \
    "\"items\":" S_MCP_ANSWER_ONE "}]}"

#define X_MCP_ANSWER \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":" \
    "\"text\",\"text\":\"{\\\"service_families\\\":[],\\\"job_statuses\\\"" \
    ":[]}\"}],\"isError\":false,\"structuredContent\":{" \
    "\"service_families\":[],\"job_statuses\":[]},\"_meta\":{\"status\":" \
    "200}}}"

#define S_DOCS \
    "{\"type\":\"string\",\"contentMediaType\":\"text/html\"," \
    "\"description\":\"One self-contained HTML page: no JavaScript, no " \
    "external assets.\"}"

static const webot_param_t P_MCP[] = {
    { "MCP-Protocol-Version", "header",
      "{\"type\":\"string\",\"pattern\":\"^[0-9]{4}-[0-9]{2}-[0-9]{2}$\"}",
      "The protocol version negotiated by initialize; an unsupported one "
      "is refused with 400. Without it 2025-03-26 is assumed." },
    { NULL, NULL, NULL, NULL }
};

static const char *const E_MCP[] = { "BAD_REQUEST", "UNAUTHORIZED",
    "FORBIDDEN", "METHOD_NOT_ALLOWED", "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE", "RATE_LIMITED", "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR", NULL };
static const char *const E_DOCS[] = { "METHOD_NOT_ALLOWED",
    "INTERNAL_ERROR", NULL };

int webot_h_mcp(webot_req_t *wr);
int webot_h_docs(webot_req_t *wr);

#endif
