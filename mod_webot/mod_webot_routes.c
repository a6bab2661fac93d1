/* mod_webot_routes.c: THE route table. The dispatcher, the OpenAPI
 * document, the docs page and the MCP tools are all built from it; adding a
 * route is adding a row here and a handler. Schemas are JSON Schema
 * (2020-12) text: request schemas are enforced by webot_schema.c exactly as
 * they are published. */
#include "mod_webot.h"
#include "webot_openapi.h"

#include <apr_strings.h>

/* --- schemas --------------------------------------------------------- */

#define S_JOB_CREATE \
    "{\"type\":\"object\",\"additionalProperties\":false," \
    "\"required\":[\"service_option\"]," \
    "\"properties\":{" \
    "\"service_option\":{\"type\":\"string\",\"minLength\":1," \
      "\"maxLength\":64,\"description\":\"A service option id from " \
      "GET /api/v1/catalog.\"}," \
    "\"title\":{\"type\":\"string\",\"maxLength\":200}," \
    "\"intake\":{\"type\":\"object\",\"maxProperties\":50," \
      "\"description\":\"Answers to the family's intake_fields, by id.\"," \
      "\"additionalProperties\":{\"type\":\"string\",\"maxLength\":100000}}," \
    "\"file_ids\":{\"type\":\"array\",\"maxItems\":20,\"uniqueItems\":true," \
      "\"items\":{\"type\":\"string\",\"pattern\":\"^file_[a-z2-7]{26}$\"}}," \
    "\"metadata\":{\"type\":\"object\",\"maxProperties\":20," \
      "\"description\":\"Up to 20 string pairs for your own references.\"," \
      "\"additionalProperties\":{\"type\":\"string\",\"maxLength\":500}}}}"

#define X_JOB_CREATE \
    "{\"service_option\":\"tone_rewrites_copy_polish\"," \
    "\"title\":\"Spring launch email\",\"intake\":{" \
    "\"audience\":\"Existing customers, spring sale\"," \
    "\"brand_constraints\":\"No exclamation marks\"," \
    "\"tone\":\"Warm, confident\",\"delivery_format\":\"Plain text email\"}," \
    "\"metadata\":{\"crm_id\":\"123\"}}"

#define S_HEALTH \
    "{\"type\":\"object\",\"required\":[\"status\",\"database\",\"worker\"," \
    "\"stripe_catalog\"],\"properties\":{" \
    "\"status\":{\"type\":\"string\",\"enum\":[\"ok\",\"degraded\"]}," \
    "\"database\":{\"type\":\"string\",\"enum\":[\"ok\",\"unavailable\"]}," \
    "\"schema_version\":{\"type\":[\"string\",\"null\"]}," \
    "\"worker\":{\"type\":\"string\",\"enum\":[\"ok\",\"stale\",\"off\"]}," \
    "\"stripe_catalog\":{\"type\":\"string\",\"enum\":[\"verified\"," \
      "\"unverified\"]}}}"

#define S_CATALOG \
    "{\"type\":\"object\",\"required\":[\"service_families\"," \
    "\"job_statuses\"],\"properties\":{" \
    "\"service_families\":{\"type\":\"array\",\"items\":" \
      "{\"$ref\":\"#/components/schemas/ServiceFamily\"}}," \
    "\"job_statuses\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}"

#define S_PLANS \
    "{\"type\":\"object\",\"required\":[\"plans\"],\"properties\":{" \
    "\"plans\":{\"type\":\"array\",\"items\":" \
      "{\"$ref\":\"#/components/schemas/Plan\"}}}}"

#define S_INTENT \
    "{\"type\":\"object\",\"required\":[\"ok\",\"service_family\"," \
    "\"service_option\",\"missing_requirements\",\"problems\"," \
    "\"suggested_action\"],\"properties\":{" \
    "\"ok\":{\"type\":\"boolean\"}," \
    "\"service_family\":{\"type\":[\"string\",\"null\"]}," \
    "\"service_option\":{\"type\":[\"string\",\"null\"]}," \
    "\"missing_requirements\":{\"type\":\"array\",\"items\":{\"type\":" \
      "\"object\",\"properties\":{\"id\":{\"type\":\"string\"}," \
      "\"label\":{\"type\":\"string\"}}}}," \
    "\"problems\":{\"type\":\"array\",\"items\":{\"type\":\"object\"," \
      "\"properties\":{\"param\":{\"type\":[\"string\",\"null\"]}," \
      "\"message\":{\"type\":\"string\"}}}}," \
    "\"suggested_action\":{\"type\":\"string\",\"enum\":[\"none\"," \
      "\"revise_request\"]}}}"

const webot_named_schema_t webot_components[] = {
    { "Error",
      "{\"type\":\"object\",\"required\":[\"error\"],\"properties\":{"
      "\"error\":{\"type\":\"object\",\"required\":[\"code\",\"message\","
      "\"request_id\",\"suggested_action\",\"suggested_endpoint\",\"param\","
      "\"details\"],\"properties\":{"
      "\"code\":{\"type\":\"string\"},"
      "\"message\":{\"type\":\"string\"},"
      "\"request_id\":{\"type\":\"string\"},"
      "\"suggested_action\":{\"type\":\"string\",\"enum\":[\"retry\","
        "\"wait\",\"revise_request\",\"upgrade_plan\",\"ask_human\","
        "\"reauthenticate\",\"none\"]},"
      "\"suggested_endpoint\":{\"type\":[\"string\",\"null\"]},"
      "\"param\":{\"type\":[\"string\",\"null\"]},"
      "\"details\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}}}}}}" },
    { "ServiceFamily",
      "{\"type\":\"object\",\"required\":[\"id\",\"name\","
      "\"intake_requirements\",\"intake_fields\",\"quality_signals\","
      "\"service_options\"],\"properties\":{"
      "\"id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},"
      "\"description\":{\"type\":\"string\"},"
      "\"intake_requirements\":{\"type\":\"array\",\"items\":"
        "{\"type\":\"string\"}},"
      "\"intake_fields\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"required\":[\"id\",\"label\",\"required\",\"max_length\"],"
        "\"properties\":{\"id\":{\"type\":\"string\"},"
        "\"label\":{\"type\":\"string\"},\"required\":{\"type\":\"boolean\"},"
        "\"max_length\":{\"type\":\"integer\"}}}},"
      "\"quality_signals\":{\"type\":\"array\",\"items\":"
        "{\"type\":\"string\"}},"
      "\"review_required\":{\"type\":\"boolean\"},"
      "\"service_options\":{\"type\":\"array\",\"items\":{\"type\":"
        "\"object\",\"required\":[\"id\",\"name\"],\"properties\":{"
        "\"id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},"
        "\"description\":{\"type\":\"string\"}}}}}}" },
    { "Plan",
      "{\"type\":\"object\",\"required\":[\"id\",\"name\",\"access\","
      "\"limits\",\"price\",\"checkout_available\"],\"properties\":{"
      "\"id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},"
      "\"description\":{\"type\":\"string\"},"
      "\"access\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
        "\"enum\":[\"api\",\"dashboard\"]}},"
      "\"limits\":{\"$ref\":\"#/components/schemas/Limits\"},"
      "\"price\":{\"type\":\"object\",\"required\":[\"amount\",\"currency\","
        "\"interval\"],\"properties\":{\"amount\":{\"type\":\"integer\","
        "\"description\":\"In minor units (cents).\"},"
        "\"currency\":{\"type\":\"string\"},"
        "\"interval\":{\"type\":\"string\",\"enum\":[\"month\",\"year\"]}}},"
      "\"checkout_available\":{\"type\":\"boolean\"}}}" },
    { "Limits",
      "{\"type\":\"object\",\"required\":[\"monthly_jobs\","
      "\"max_active_jobs\",\"max_revisions\",\"rate_limit_per_minute\","
      "\"max_upload_bytes\"],\"properties\":{"
      "\"monthly_jobs\":{\"type\":\"integer\"},"
      "\"max_active_jobs\":{\"type\":\"integer\"},"
      "\"max_revisions\":{\"type\":\"integer\"},"
      "\"rate_limit_per_minute\":{\"type\":\"integer\"},"
      "\"max_upload_bytes\":{\"type\":\"integer\"}}}" },
    { NULL, NULL }
};

/* --- error lists ----------------------------------------------------- */

static const char *const E_PUBLIC_GET[] = { "NOT_FOUND",
    "METHOD_NOT_ALLOWED", "INTERNAL_ERROR", NULL };
static const char *const E_HEALTH[] = { "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR", NULL };
static const char *const E_PUBLIC_POST[] = { "BAD_REQUEST",
    "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "VALIDATION_ERROR",
    "INTERNAL_ERROR", NULL };

/* --- the table ------------------------------------------------------- */

const webot_route_t webot_routes[] = {
    { "GET", WEBOT_MOUNT_API, "/openapi.json", "getOpenAPI", "public",
      WEBOT_AUTH_PUBLIC, 0, WEBOT_RF_ETAG,
      "OpenAPI document",
      "The OpenAPI 3.1 document of this server, built at run time from the "
      "module's route table.",
      NULL, NULL, NULL, 200, "{\"type\":\"object\"}",
      "{\"openapi\":\"3.1.0\"}", E_PUBLIC_GET, NULL, webot_h_openapi },

    { "GET", WEBOT_MOUNT_API, "/health", "getHealth", "public",
      WEBOT_AUTH_PUBLIC, 0, 0,
      "Service health",
      "Database reachability, worker heartbeat and Stripe catalog state. "
      "Answers 503 SERVICE_UNAVAILABLE when the database is unreachable.",
      NULL, NULL, NULL, 200, S_HEALTH,
      "{\"status\":\"ok\",\"database\":\"ok\",\"schema_version\":\"001_init\","
      "\"worker\":\"off\",\"stripe_catalog\":\"unverified\"}",
      E_HEALTH, NULL, webot_h_health },

    { "GET", WEBOT_MOUNT_API, "/catalog", "getCatalog", "public",
      WEBOT_AUTH_PUBLIC, 0, WEBOT_RF_ETAG,
      "Service catalog",
      "Service families with their options, intake requirements and fields, "
      "quality signals, and the job statuses in lifecycle order.",
      NULL, NULL, NULL, 200, S_CATALOG,
      "{\"service_families\":[{\"id\":\"create_polish\",\"name\":\"Create "
      "& Polish\",\"intake_requirements\":[\"occasion or audience\"],"
      "\"intake_fields\":[{\"id\":\"audience\",\"label\":\"occasion or "
      "audience\",\"required\":true,\"max_length\":2000}],"
      "\"quality_signals\":[\"Matches the requested tone\"],"
      "\"review_required\":false,\"service_options\":[{\"id\":"
      "\"tone_rewrites_copy_polish\",\"name\":\"Tone rewrites & copy "
      "polish\"}]}],\"job_statuses\":[\"queued\",\"accepted\",\"running\","
      "\"needs_review\",\"ready_for_customer_review\",\"completed\","
      "\"rejected\",\"canceled\"]}",
      E_PUBLIC_GET, "get_catalog", webot_h_catalog },

    { "GET", WEBOT_MOUNT_API, "/plans", "listPlans", "public",
      WEBOT_AUTH_PUBLIC, 0, WEBOT_RF_ETAG,
      "Plan table",
      "Every plan with its access paths, limits and display price. "
      "checkout_available is true only for plans whose Stripe price was "
      "verified for this deployment.",
      NULL, NULL, NULL, 200, S_PLANS,
      "{\"plans\":[{\"id\":\"agent_pro\",\"name\":\"Agent Pro\",\"access\":"
      "[\"api\"],\"limits\":{\"monthly_jobs\":200,\"max_active_jobs\":10,"
      "\"max_revisions\":2,\"rate_limit_per_minute\":300,"
      "\"max_upload_bytes\":26214400},\"price\":{\"amount\":9900,"
      "\"currency\":\"usd\",\"interval\":\"month\"},"
      "\"checkout_available\":false}]}",
      E_PUBLIC_GET, "list_plans", webot_h_plans },

    { "POST", WEBOT_MOUNT_API, "/catalog/intent-check", "checkIntent",
      "public", WEBOT_AUTH_PUBLIC, 0, WEBOT_RF_BODY_OPTIONAL,
      "Check a job draft",
      "A quota-free draft check of a job request against the catalog: takes "
      "the body of POST /api/v1/jobs and reports missing intake "
      "requirements and problems without creating anything.",
      NULL, S_JOB_CREATE, X_JOB_CREATE, 200, S_INTENT,
      "{\"ok\":false,\"service_family\":\"create_polish\",\"service_option\":"
      "\"tone_rewrites_copy_polish\",\"missing_requirements\":[{\"id\":"
      "\"tone\",\"label\":\"tone and voice\"}],\"problems\":[],"
      "\"suggested_action\":\"revise_request\"}",
      E_PUBLIC_POST, "check_intent", webot_h_intent_check },
};

const int webot_routes_count = sizeof(webot_routes) / sizeof(webot_routes[0]);

/* --- start-up: parse every schema once, build the OpenAPI document ---- */

static json_t **request_schemas;
static const char *openapi_text;
static apr_size_t openapi_len;
static const char *openapi_etag;

const json_t *webot_route_request_schema(const webot_route_t *rt)
{
    return request_schemas ? request_schemas[rt - webot_routes] : NULL;
}

const char *webot_openapi_json(apr_size_t *len, const char **etag)
{
    *len = openapi_len;
    *etag = openapi_etag;
    return openapi_text;
}

apr_status_t webot_routes_init(apr_pool_t *pconf, server_rec *s)
{
    const char *err = NULL;
    json_t *doc;
    unsigned char sum[WEBOT_SHA256_LEN];
    int i;

    request_schemas = apr_pcalloc(pconf, sizeof(json_t *)
                                  * (apr_size_t)webot_routes_count);
    for (i = 0; i < webot_routes_count; i++) {
        const webot_route_t *rt = &webot_routes[i];
        if (rt->request_schema) {
            json_error_t je;
            json_t *j = json_loads(rt->request_schema, 0, &je);
            if (!j) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(30002)
                             "route %s %s: request schema: %s", rt->method,
                             rt->path, je.text);
                return APR_EGENERAL;
            }
            request_schemas[i] = webot_json_own(pconf, j);
        }
    }
    doc = webot_openapi_build(pconf, webot_routes, webot_routes_count,
                              webot_components, &err);
    if (!doc) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(30003)
                     "cannot build the OpenAPI document: %s", err);
        return APR_EGENERAL;
    }
    openapi_text = webot_json_dump(pconf, doc);
    openapi_len = strlen(openapi_text);
    webot_sha256(openapi_text, openapi_len, sum);
    openapi_etag = apr_pstrcat(pconf, "\"", webot_hex(pconf, sum, 16), "\"",
                               NULL);
    return APR_SUCCESS;
}
