/* webot_error.c: the contract's error codes and body. */
#include "webot_error.h"
#include "webot_json.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

#define ENT "GET /api/v1/entitlements"

const webot_error_kind_t webot_error_kinds[] = {
    { "BAD_REQUEST", 400, "revise_request", NULL,
      "malformed JSON, bad UTF-8, duplicate keys, bad query value, bad cursor" },
    { "IDEMPOTENCY_KEY_REQUIRED", 400, "revise_request", NULL,
      "POST /jobs without a valid Idempotency-Key, or a malformed key" },
    { "WEBHOOK_SIGNATURE_INVALID", 400, "none", NULL,
      "Stripe signature missing, wrong, or outside tolerance" },
    { "UNAUTHORIZED", 401, "reauthenticate", NULL,
      "no, malformed, unknown, or revoked credential" },
    { "QUOTA_EXCEEDED", 402, "upgrade_plan", "GET /api/v1/usage",
      "the period's job quota is used up" },
    { "ENTITLEMENT_REQUIRED", 403, "upgrade_plan", ENT,
      "no active entitlement covering this access path" },
    { "FORBIDDEN", 403, "ask_human", NULL,
      "role or key scope does not allow the route" },
    { "CSRF_FAILED", 403, "reauthenticate", NULL,
      "cookie-authenticated mutation without the right X-CSRF-Token" },
    { "NOT_FOUND", 404, "revise_request", NULL,
      "no such route or resource, including any resource of another account" },
    { "METHOD_NOT_ALLOWED", 405, "revise_request", NULL,
      "known path, other method (Allow header set)" },
    { "IDEMPOTENCY_IN_PROGRESS", 409, "retry", NULL,
      "same Idempotency-Key still being processed" },
    { "INVALID_STATE", 409, "none", NULL,
      "transition not allowed now" },
    { "PAYLOAD_TOO_LARGE", 413, "revise_request", NULL,
      "body over the limit" },
    { "UNSUPPORTED_MEDIA_TYPE", 415, "revise_request", NULL,
      "body not application/json" },
    { "VALIDATION_ERROR", 422, "revise_request", NULL,
      "a field is missing, unknown, of the wrong type or out of range" },
    { "IDEMPOTENCY_CONFLICT", 422, "revise_request", NULL,
      "same Idempotency-Key reused with a different request" },
    { "INTAKE_INCOMPLETE", 422, "revise_request", "GET /api/v1/catalog",
      "intake requirements of the service option are missing" },
    { "RATE_LIMITED", 429, "wait", NULL,
      "over the per-minute limit" },
    { "ACTIVE_JOB_LIMIT", 429, "wait", "GET /api/v1/jobs?status=queued,accepted,running",
      "plan's limit of active jobs reached" },
    { "CHECKOUT_UNAVAILABLE", 503, "ask_human", "GET /api/v1/plans",
      "Stripe catalog not verified for this deployment" },
    { "SERVICE_UNAVAILABLE", 503, "retry", NULL,
      "database unreachable or shutting down" },
    { "INTERNAL_ERROR", 500, "retry", NULL,
      "anything else" },
    { NULL, 0, NULL, NULL, NULL }
};

const webot_error_kind_t *webot_error_kind(const char *code)
{
    const webot_error_kind_t *k;
    for (k = webot_error_kinds; k->code; k++) {
        if (!strcmp(k->code, code)) {
            return k;
        }
    }
    return NULL;
}

webot_error_t *webot_error_make(apr_pool_t *p, const char *code,
                                const char *fmt, ...)
{
    const webot_error_kind_t *k = webot_error_kind(code);
    webot_error_t *e = apr_pcalloc(p, sizeof(*e));
    va_list ap;

    if (!k) {
        k = webot_error_kind("INTERNAL_ERROR");
    }
    e->status = k->status;
    e->code = k->code;
    e->suggested_action = k->suggested_action;
    e->suggested_endpoint = k->suggested_endpoint;
    va_start(ap, fmt);
    e->message = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
    e->details = webot_json_own(p, json_array());
    if (e->status == 503 || e->status == 429) {
        e->retry_after = e->status == 503 ? 2 : 1;
    }
    return e;
}

void webot_error_add_param(apr_pool_t *p, webot_error_t *e,
                           const char *param, const char *message)
{
    (void)p;
    json_array_append_new(e->details, json_pack("{s:s?,s:s}", "param", param,
                                                "message", message));
    if (!e->param) {
        e->param = param;
    }
}

static json_t *error_body(const webot_error_t *e, const char *request_id,
                          const char *message, const char *param)
{
    json_t *err = json_pack("{s:s,s:s,s:s?,s:s,s:s?,s:s?,s:o}",
        "code", e->code,
        "message", message ? message : "",
        "request_id", request_id,
        "suggested_action", e->suggested_action ? e->suggested_action : "none",
        "suggested_endpoint", e->suggested_endpoint,
        "param", param,
        "details", e->details ? json_incref(e->details) : json_array());
    return err ? json_pack("{s:o}", "error", err) : NULL;
}

/* printable ASCII copy ('?' for anything else), malloc'd */
static char *ascii_copy(const char *s)
{
    char *out, *c;
    if (!s || !(out = strdup(s))) {
        return NULL;
    }
    for (c = out; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) {
            *c = '?';
        }
    }
    return out;
}

json_t *webot_error_json(const webot_error_t *e, const char *request_id)
{
    json_t *body = error_body(e, request_id, e->message, e->param);
    char *m, *prm;

    if (body) {
        return body;
    }
    /* A string was not UTF-8 (a message quoting client bytes): the answer
     * must still be the contract's body. */
    m = ascii_copy(e->message);
    prm = ascii_copy(e->param);
    body = error_body(e, request_id, m, prm);
    free(m);
    free(prm);
    return body;
}
