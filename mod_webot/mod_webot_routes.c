/* mod_webot_routes.c: THE route table. The dispatcher, the OpenAPI
 * document, the docs page and the MCP tools are all built from it; adding a
 * route is adding a row here and a handler. Schemas are JSON Schema
 * (2020-12) text: request schemas are enforced by webot_schema.c exactly as
 * they are published. */
#include "mod_webot.h"
#include "webot_openapi.h"

#include <apr_strings.h>

#include "mod_webot_public.h"
#include "mod_webot_account.h"
#include "mod_webot_jobs.h"
#include "mod_webot_files.h"
#include "mod_webot_billing.h"
#include "mod_webot_agents.h"

/* Named schemas for components/schemas, referenced as
 * {"$ref":"#/components/schemas/NAME"} from response schemas. */
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
    { "ApiKey", S_COMPONENT_API_KEY },
    { "Job", S_JOB_OBJECT },
    { "JobEvent", S_JOB_EVENT_OBJECT },
    { NULL, NULL }
};

/* --- the table ------------------------------------------------------- */

/* One table; each area keeps its rows in its own file so that areas grow
 * independently. The order here is the order of the OpenAPI paths. */
const webot_route_t webot_routes[] = {
#include "routes_public.inc"
#include "routes_account.inc"
#include "routes_jobs.inc"
#include "routes_files.inc"
#include "routes_billing.inc"
#include "routes_agents.inc"
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
