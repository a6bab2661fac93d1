/* mod_webot_account.h: schemas, error lists and handlers of the account
 * context (me, entitlements), dashboard sessions (login, logout) and API
 * keys (rows in routes_account.inc). */
#ifndef MOD_WEBOT_ACCOUNT_H
#define MOD_WEBOT_ACCOUNT_H

/* --- sessions ---------------------------------------------------------- */

#define S_LOGIN \
    "{\"type\":\"object\",\"additionalProperties\":false," \
    "\"required\":[\"email\",\"password\"],\"properties\":{" \
    "\"email\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":254," \
      "\"description\":\"The user's email (case-insensitive).\"}," \
    "\"password\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1024}}}"

#define X_LOGIN \
    "{\"email\":\"owner@example.com\",\"password\":\"correct horse battery\"}"

#define S_LOGIN_RESULT \
    "{\"type\":\"object\",\"required\":[\"csrf_token\",\"expires_at\"," \
    "\"idle_expires_at\",\"user\",\"account_id\"],\"properties\":{" \
    "\"csrf_token\":{\"type\":\"string\",\"description\":\"Send it as " \
      "X-CSRF-Token with every POST, PUT and DELETE of this session.\"}," \
    "\"expires_at\":{\"type\":\"string\",\"format\":\"date-time\"," \
      "\"description\":\"Absolute end of the session.\"}," \
    "\"idle_expires_at\":{\"type\":\"string\",\"format\":\"date-time\"," \
      "\"description\":\"End of the session unless it is used before; " \
      "each use moves it.\"}," \
    "\"user\":{\"type\":\"object\",\"required\":[\"id\",\"email\",\"role\"]," \
      "\"properties\":{\"id\":{\"type\":\"string\"}," \
      "\"email\":{\"type\":\"string\"},\"role\":{\"type\":\"string\"," \
      "\"enum\":[\"owner\",\"admin\",\"member\"]}}}," \
    "\"account_id\":{\"type\":\"string\"}}}"

#define X_LOGIN_RESULT \
    "{\"csrf_token\":\"wbc_Jq3nZ0pV7sYb2kR9tLmX4cW8dF1gH6aE5uQ\"," \
    "\"expires_at\":\"2026-11-22T18:00:00Z\"," \
    "\"idle_expires_at\":\"2026-11-22T06:30:00Z\"," \
    "\"user\":{\"id\":\"usr_3k7vq2m9x4yq5zv2w7h3k4tqbn\"," \
    "\"email\":\"owner@example.com\",\"role\":\"owner\"}," \
    "\"account_id\":\"acct_7h2kq9m3x4yq5zv2w7h3k4tqbn\"}"

#define S_EMPTY_OBJECT \
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}"

/* --- account context ----------------------------------------------------- */

#define S_ME \
    "{\"type\":\"object\",\"required\":[\"account\",\"auth\",\"role\"," \
    "\"scopes\",\"entitlement\"],\"properties\":{" \
    "\"account\":{\"type\":\"object\",\"required\":[\"id\",\"name\"," \
      "\"created_at\"],\"properties\":{\"id\":{\"type\":\"string\"}," \
      "\"name\":{\"type\":\"string\"},\"created_at\":{\"type\":\"string\"," \
      "\"format\":\"date-time\"}}}," \
    "\"auth\":{\"type\":\"object\",\"required\":[\"method\",\"key_id\"," \
      "\"key_prefix\",\"user_id\",\"email\"],\"properties\":{" \
      "\"method\":{\"type\":\"string\",\"enum\":[\"api_key\",\"session\"]}," \
      "\"key_id\":{\"type\":[\"string\",\"null\"]}," \
      "\"key_prefix\":{\"type\":[\"string\",\"null\"]}," \
      "\"user_id\":{\"type\":[\"string\",\"null\"]}," \
      "\"email\":{\"type\":[\"string\",\"null\"]}}}," \
    "\"role\":{\"type\":[\"string\",\"null\"],\"enum\":[\"owner\"," \
      "\"admin\",\"member\",null],\"description\":\"The user's role " \
      "(sessions); null for API keys.\"}," \
    "\"scopes\":{\"type\":\"array\",\"items\":{\"type\":\"string\"," \
      "\"enum\":[\"account:read\",\"jobs:read\",\"jobs:write\"," \
      "\"files:write\"]}}," \
    "\"entitlement\":{\"type\":\"object\",\"required\":[\"status\"," \
      "\"plan\",\"access\",\"quota\"],\"properties\":{" \
      "\"status\":{\"type\":\"string\",\"enum\":[\"active\",\"trialing\"," \
        "\"past_due\",\"canceled\",\"none\"]}," \
      "\"plan\":{\"type\":[\"string\",\"null\"],\"description\":\"Plan id " \
        "(GET /api/v1/plans).\"}," \
      "\"access\":{\"type\":\"array\",\"description\":\"Access paths " \
        "usable now.\",\"items\":{\"type\":\"string\",\"enum\":[\"api\"," \
        "\"dashboard\"]}}," \
      "\"quota\":{\"type\":\"object\",\"required\":[\"limit\",\"used\"," \
        "\"remaining\"],\"properties\":{\"limit\":{\"type\":\"integer\"}," \
        "\"used\":{\"type\":\"integer\"}," \
        "\"remaining\":{\"type\":\"integer\"}}}," \
      "\"message\":{\"type\":[\"string\",\"null\"],\"description\":\"Why " \
        "this credential cannot use Required routes beyond the account " \
        "context, or null when it can.\"}}}}}"

#define X_ME \
    "{\"account\":{\"id\":\"acct_7h2kq9m3x4yq5zv2w7h3k4tqbn\"," \
    "\"name\":\"Acme\",\"created_at\":\"2026-11-01T09:00:00Z\"}," \
    "\"auth\":{\"method\":\"api_key\",\"key_id\":" \
    "\"key_5m2xq8k3v4yq5zv2w7h3k4tqbn\",\"key_prefix\":\"wbt_\\u2026a1b2\"," \
    "\"user_id\":null,\"email\":null},\"role\":null," \
    "\"scopes\":[\"account:read\",\"jobs:read\",\"jobs:write\"," \
    "\"files:write\"],\"entitlement\":{\"status\":\"active\"," \
    "\"plan\":\"both_team\",\"access\":[\"api\",\"dashboard\"]," \
    "\"quota\":{\"limit\":500,\"used\":12,\"remaining\":488}," \
    "\"message\":null}}"

#define S_ENTITLEMENT \
    "{\"type\":\"object\",\"required\":[\"status\",\"plan\",\"access\"," \
    "\"source\",\"current_period\",\"limits\",\"updated_at\"]," \
    "\"properties\":{" \
    "\"status\":{\"type\":\"string\",\"enum\":[\"active\",\"trialing\"," \
      "\"past_due\",\"canceled\",\"none\"],\"description\":\"none: the " \
      "account never had an entitlement; an expired manual grant shows " \
      "as canceled.\"}," \
    "\"plan\":{\"type\":[\"object\",\"null\"],\"required\":[\"id\"," \
      "\"name\",\"access\"],\"properties\":{\"id\":{\"type\":\"string\"}," \
      "\"name\":{\"type\":\"string\"},\"access\":{\"type\":\"array\"," \
      "\"description\":\"What the plan includes.\",\"items\":{\"type\":" \
      "\"string\",\"enum\":[\"api\",\"dashboard\"]}}}}," \
    "\"access\":{\"type\":\"array\",\"description\":\"Access paths usable " \
      "now (empty when the entitlement grants nothing).\",\"items\":" \
      "{\"type\":\"string\",\"enum\":[\"api\",\"dashboard\"]}}," \
    "\"source\":{\"type\":[\"string\",\"null\"],\"enum\":[\"stripe\"," \
      "\"manual\",null]}," \
    "\"current_period\":{\"type\":[\"object\",\"null\"],\"required\":" \
      "[\"start\",\"end\"],\"description\":\"The quota period: Stripe's " \
      "billing period, or for manual grants the month (counted from the " \
      "grant) containing now.\",\"properties\":{\"start\":{\"type\":" \
      "\"string\",\"format\":\"date-time\"},\"end\":{\"type\":\"string\"," \
      "\"format\":\"date-time\"}}}," \
    "\"limits\":{\"oneOf\":[{\"$ref\":\"#/components/schemas/Limits\"}," \
      "{\"type\":\"null\"}],\"description\":\"The plan's limits with this " \
      "account's overrides applied.\"}," \
    "\"expires_at\":{\"type\":[\"string\",\"null\"],\"format\":" \
      "\"date-time\",\"description\":\"End of a time-limited manual " \
      "grant.\"}," \
    "\"message\":{\"type\":[\"string\",\"null\"],\"description\":\"Why " \
      "the entitlement grants nothing now, or null.\"}," \
    "\"updated_at\":{\"type\":[\"string\",\"null\"],\"format\":" \
      "\"date-time\"}}}"

#define X_ENTITLEMENT \
    "{\"status\":\"active\",\"plan\":{\"id\":\"both_team\",\"name\":" \
    "\"Both Team\",\"access\":[\"api\",\"dashboard\"]},\"access\":[\"api\"," \
    "\"dashboard\"],\"source\":\"manual\",\"current_period\":{\"start\":" \
    "\"2026-11-01T09:00:00Z\",\"end\":\"2026-12-01T09:00:00Z\"}," \
    "\"limits\":{\"monthly_jobs\":500,\"max_active_jobs\":20," \
    "\"max_revisions\":5,\"rate_limit_per_minute\":600," \
    "\"max_upload_bytes\":52428800},\"expires_at\":null,\"message\":null," \
    "\"updated_at\":\"2026-11-01T09:00:00Z\"}"

/* --- API keys --------------------------------------------------------------- */

#define SCOPE_ENUM \
    "{\"type\":\"string\",\"enum\":[\"account:read\",\"jobs:read\"," \
    "\"jobs:write\",\"files:write\"]}"

#define S_KEY_CREATE \
    "{\"type\":\"object\",\"additionalProperties\":false," \
    "\"required\":[\"name\"],\"properties\":{" \
    "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200," \
      "\"description\":\"A label for you (where the key is used).\"}," \
    "\"scopes\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":4," \
      "\"uniqueItems\":true,\"items\":" SCOPE_ENUM "," \
      "\"description\":\"Default: all four.\"}}}"

#define X_KEY_CREATE \
    "{\"name\":\"CRM agent\",\"scopes\":[\"account:read\",\"jobs:read\"," \
    "\"jobs:write\"]}"

#define S_KEY_CREATED \
    "{\"type\":\"object\",\"required\":[\"id\",\"name\",\"prefix\"," \
    "\"scopes\",\"created_at\",\"key\"],\"properties\":{" \
    "\"id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"}," \
    "\"prefix\":{\"type\":\"string\"},\"scopes\":{\"type\":\"array\"," \
      "\"items\":" SCOPE_ENUM "}," \
    "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}," \
    "\"key\":{\"type\":\"string\",\"description\":\"The secret key, shown " \
      "only in this answer; use it as Authorization: Bearer KEY.\"}}}"

#define X_KEY_CREATED \
    "{\"id\":\"key_5m2xq8k3v4yq5zv2w7h3k4tqbn\",\"name\":\"CRM agent\"," \
    "\"prefix\":\"wbt_\\u2026a1b2\",\"scopes\":[\"account:read\"," \
    "\"jobs:read\",\"jobs:write\"],\"created_at\":\"2026-11-22T06:00:00Z\"," \
    "\"key\":\"wbt_8Hn2QxV7pLk3ZrT9sWm4YcB6dF1gJ5aE0ua1b2\"}"

#define S_KEY_ONE "{\"$ref\":\"#/components/schemas/ApiKey\"}"

#define X_KEY_ONE \
    "{\"id\":\"key_5m2xq8k3v4yq5zv2w7h3k4tqbn\",\"name\":\"CRM agent\"," \
    "\"prefix\":\"wbt_\\u2026a1b2\",\"scopes\":[\"account:read\"," \
    "\"jobs:read\",\"jobs:write\"],\"created_at\":\"2026-11-22T06:00:00Z\"," \
    "\"last_used_at\":\"2026-11-22T06:05:00Z\"," \
    "\"revoked_at\":\"2026-11-22T07:00:00Z\"}"

#define S_KEY_LIST \
    "{\"type\":\"object\",\"required\":[\"data\",\"has_more\"," \
    "\"next_cursor\"],\"properties\":{" \
    "\"data\":{\"type\":\"array\",\"items\":" S_KEY_ONE "}," \
    "\"has_more\":{\"type\":\"boolean\"}," \
    "\"next_cursor\":{\"type\":[\"string\",\"null\"]}}}"

#define X_KEY_LIST \
    "{\"data\":[{\"id\":\"key_5m2xq8k3v4yq5zv2w7h3k4tqbn\",\"name\":" \
    "\"CRM agent\",\"prefix\":\"wbt_\\u2026a1b2\",\"scopes\":" \
    "[\"account:read\",\"jobs:read\",\"jobs:write\"],\"created_at\":" \
    "\"2026-11-22T06:00:00Z\",\"last_used_at\":\"2026-11-22T06:05:00Z\"," \
    "\"revoked_at\":null}],\"has_more\":false,\"next_cursor\":null}"

/* components/schemas entry (mod_webot_routes.c) */
#define S_COMPONENT_API_KEY \
    "{\"type\":\"object\",\"required\":[\"id\",\"name\",\"prefix\"," \
    "\"scopes\",\"created_at\",\"last_used_at\",\"revoked_at\"]," \
    "\"properties\":{\"id\":{\"type\":\"string\"}," \
    "\"name\":{\"type\":\"string\"}," \
    "\"prefix\":{\"type\":\"string\",\"description\":\"wbt_\\u2026 and the " \
      "key's last four characters.\"}," \
    "\"scopes\":{\"type\":\"array\",\"items\":" SCOPE_ENUM "}," \
    "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}," \
    "\"last_used_at\":{\"type\":[\"string\",\"null\"],\"format\":" \
      "\"date-time\",\"description\":\"Updated at most once a minute.\"}," \
    "\"revoked_at\":{\"type\":[\"string\",\"null\"],\"format\":" \
      "\"date-time\"}}}"

static const webot_param_t P_KEY_LIST[] = {
    { "limit", "query", "{\"type\":\"integer\",\"minimum\":1,"
      "\"maximum\":100,\"default\":20}", "Page size (1-100, default 20)." },
    { "cursor", "query", "{\"type\":\"string\",\"maxLength\":512}",
      "next_cursor of the previous page (opaque)." },
    { NULL, NULL, NULL, NULL }
};

/* --- error lists ---------------------------------------------------------- */

static const char *const E_LOGIN[] = { "BAD_REQUEST", "UNAUTHORIZED",
    "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "VALIDATION_ERROR",
    "RATE_LIMITED", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_LOGOUT[] = { "BAD_REQUEST", "UNAUTHORIZED",
    "FORBIDDEN", "CSRF_FAILED", "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE", "VALIDATION_ERROR", "RATE_LIMITED",
    "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_ACCOUNT_GET[] = { "UNAUTHORIZED", "FORBIDDEN",
    "RATE_LIMITED", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_KEYS_GET[] = { "BAD_REQUEST", "UNAUTHORIZED",
    "FORBIDDEN", "RATE_LIMITED", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR",
    NULL };
static const char *const E_KEYS_POST[] = { "BAD_REQUEST", "UNAUTHORIZED",
    "FORBIDDEN", "CSRF_FAILED", "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE", "VALIDATION_ERROR", "RATE_LIMITED",
    "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_KEYS_DELETE[] = { "UNAUTHORIZED", "FORBIDDEN",
    "CSRF_FAILED", "NOT_FOUND", "RATE_LIMITED", "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR", NULL };

int webot_h_login(webot_req_t *wr);
int webot_h_logout(webot_req_t *wr);
int webot_h_me(webot_req_t *wr);
int webot_h_entitlements(webot_req_t *wr);
int webot_h_keys_list(webot_req_t *wr);
int webot_h_key_create(webot_req_t *wr);
int webot_h_key_revoke(webot_req_t *wr);

#endif
