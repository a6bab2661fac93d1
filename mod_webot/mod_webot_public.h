/* mod_webot_public.h: schemas, error lists and handlers of the public
 * routes (rows in routes_public.inc). */
#ifndef MOD_WEBOT_PUBLIC_H
#define MOD_WEBOT_PUBLIC_H

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

static const char *const E_PUBLIC_GET[] = { "NOT_FOUND",
    "METHOD_NOT_ALLOWED", "INTERNAL_ERROR", NULL };
static const char *const E_HEALTH[] = { "METHOD_NOT_ALLOWED",
    "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_PUBLIC_POST[] = { "BAD_REQUEST",
    "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "VALIDATION_ERROR",
    "INTERNAL_ERROR", NULL };

int webot_h_openapi(webot_req_t *wr);
int webot_h_health(webot_req_t *wr);
int webot_h_catalog(webot_req_t *wr);
int webot_h_plans(webot_req_t *wr);
int webot_h_intent_check(webot_req_t *wr);

#endif
