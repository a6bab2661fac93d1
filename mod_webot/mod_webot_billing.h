/* mod_webot_billing.h: schemas, error lists and handlers of the Stripe
 * checkout and webhook routes (rows in routes_billing.inc), the billing
 * directives, the verified plan catalog for other routes, and the outbound
 * Stripe client (mod_webot_stripe.c). Only mod_webot*.c include it. */
#ifndef MOD_WEBOT_BILLING_H
#define MOD_WEBOT_BILLING_H

#include <apr_tables.h>
#include "webot_stripe.h"

/* --- configuration (server-wide; directives in WEBOT_BILLING_CMDS) ------ */

typedef struct webot_billing_cfg_t {
    const char *secret_key;             /* WebotStripeSecretKeyFile */
    webot_stripe_mode_e key_mode;
    apr_array_header_t *webhook_secrets;/* webot_stripe_secret_t */
    const char *api_base;               /* WebotStripeAPIBase, no final / */
    int tolerance;                      /* WebotStripeTolerance, s */
    const char *success_url;            /* WebotCheckoutSuccessURL */
    const char *cancel_url;             /* WebotCheckoutCancelURL */
    int verify_interval;                /* WebotStripeVerifyInterval, s */
    int timeout;                        /* WebotStripeTimeout, s */
} webot_billing_cfg_t;

extern webot_billing_cfg_t webot_billing;

#define WEBOT_STRIPE_DEFAULT_API_BASE   "https://api.stripe.com"
#define WEBOT_STRIPE_DEFAULT_TOLERANCE  300
#define WEBOT_STRIPE_DEFAULT_VERIFY     3600
#define WEBOT_STRIPE_DEFAULT_TIMEOUT    20
/* The API version our requests are written against (Stripe-Version). */
#define WEBOT_STRIPE_API_VERSION        "2024-06-20"
/* Largest webhook payload accepted. */
#define WEBOT_WEBHOOK_MAX_BYTES         (512 * 1024)

const char *webot_set_stripe_key(cmd_parms *cmd, void *d, const char *arg);
const char *webot_set_stripe_whsec(cmd_parms *cmd, void *d, const char *arg);
const char *webot_set_stripe_base(cmd_parms *cmd, void *d, const char *arg);
const char *webot_set_stripe_tolerance(cmd_parms *cmd, void *d,
                                       const char *arg);
const char *webot_set_checkout_success(cmd_parms *cmd, void *d,
                                       const char *arg);
const char *webot_set_checkout_cancel(cmd_parms *cmd, void *d,
                                      const char *arg);
const char *webot_set_past_due_grace(cmd_parms *cmd, void *d,
                                     const char *arg);
const char *webot_set_stripe_verify(cmd_parms *cmd, void *d,
                                    const char *arg);
const char *webot_set_stripe_timeout(cmd_parms *cmd, void *d,
                                     const char *arg);

#define WEBOT_BILLING_CMDS \
    AP_INIT_TAKE1("WebotStripeSecretKeyFile", webot_set_stripe_key, NULL, \
                  RSRC_CONF, "file holding the Stripe secret key " \
                  "(sk_test_/sk_live_/rk_...); enables plan verification " \
                  "and checkout"), \
    AP_INIT_TAKE1("WebotStripeWebhookSecretFile", webot_set_stripe_whsec, \
                  NULL, RSRC_CONF, "file of Stripe webhook signing " \
                  "secrets, one per line (repeatable, for rotation)"), \
    AP_INIT_TAKE1("WebotStripeAPIBase", webot_set_stripe_base, NULL, \
                  RSRC_CONF, "Stripe API base URL (default " \
                  WEBOT_STRIPE_DEFAULT_API_BASE ")"), \
    AP_INIT_TAKE1("WebotStripeTolerance", webot_set_stripe_tolerance, NULL, \
                  RSRC_CONF, "webhook timestamp tolerance in seconds " \
                  "(default 300)"), \
    AP_INIT_TAKE1("WebotCheckoutSuccessURL", webot_set_checkout_success, \
                  NULL, RSRC_CONF, "where Stripe Checkout sends the " \
                  "customer after paying"), \
    AP_INIT_TAKE1("WebotCheckoutCancelURL", webot_set_checkout_cancel, \
                  NULL, RSRC_CONF, "where Stripe Checkout sends the " \
                  "customer who cancels"), \
    AP_INIT_TAKE1("WebotPastDueGrace", webot_set_past_due_grace, NULL, \
                  RSRC_CONF, "how long past_due keeps access: seconds, or " \
                  "a number with s, m, h or d (default 3d)"), \
    AP_INIT_TAKE1("WebotStripeVerifyInterval", webot_set_stripe_verify, \
                  NULL, RSRC_CONF, "seconds between plan price " \
                  "verifications (default 3600)"), \
    AP_INIT_TAKE1("WebotStripeTimeout", webot_set_stripe_timeout, NULL, \
                  RSRC_CONF, "total timeout of a Stripe API call in " \
                  "seconds (default 20)")

/* Hooks of billing (pre/post config, child init, the verification
 * watchdog); called from webot_register_hooks. */
void webot_billing_register_hooks(apr_pool_t *p);

/* --- the verified plan catalog, for other routes -------------------------- */

struct webot_req_t;
/* Whether checkout is available for the plan now: a secret key is
 * configured and the plan's price is verified for the catalog's current
 * values and the key's mode. One database read per request. */
int webot_billing_plan_available(struct webot_req_t *wr,
                                 const webot_plan_t *pl);
/* "verified" when every plan of the catalog is available for checkout,
 * else "unverified" (/api/v1/health). */
const char *webot_billing_catalog_state(struct webot_req_t *wr);

/* --- the outbound Stripe client (mod_webot_stripe.c) ------------------------ */

typedef struct webot_stripe_resp_t {
    int status;                 /* HTTP status; 0 when no answer came */
    const char *transport;      /* no answer: what went wrong (curl) */
    const char *body;
    apr_size_t len;
    json_t *json;               /* parsed body (pool-owned) or NULL */
    const char *err_type;       /* Stripe's error object, if any */
    const char *err_code;
    const char *err_message;
} webot_stripe_resp_t;

/* One Stripe API call: method GET or POST, path with query
 * ("/v1/prices?..."), form body for POST (or NULL), Idempotency-Key (or
 * NULL). Uses WebotStripeAPIBase, the secret key, WebotStripeTimeout.
 * Returns APR_SUCCESS when an HTTP answer came (any status). */
apr_status_t webot_stripe_call(apr_pool_t *p, server_rec *s,
                               const char *method, const char *path,
                               const char *form, const char *idem_key,
                               webot_stripe_resp_t *out);

/* Registers the "webot-stripe" watchdog (post_config) and the child's stop
 * flag (child_init). */
apr_status_t webot_stripe_post_config(apr_pool_t *pconf, server_rec *s);
void webot_stripe_child_init(apr_pool_t *p, server_rec *s);

/* --- schemas and errors of the routes ------------------------------------ */

#define S_CHECKOUT_REQ \
    "{\"type\":\"object\",\"additionalProperties\":false," \
    "\"required\":[\"tier\"],\"properties\":{" \
    "\"tier\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64," \
      "\"description\":\"A plan id from GET /api/v1/plans whose " \
      "checkout_available is true.\"}}}"

#define S_CHECKOUT_RES \
    "{\"type\":\"object\",\"required\":[\"checkout_url\"," \
    "\"checkout_session_id\"],\"properties\":{" \
    "\"checkout_url\":{\"type\":\"string\",\"description\":\"Stripe's " \
      "hosted checkout page; send the customer there.\"}," \
    "\"checkout_session_id\":{\"type\":\"string\",\"description\":" \
      "\"Stripe's Checkout Session id (cs_...).\"}}}"

#define S_WEBHOOK_REQ \
    "{\"type\":\"object\",\"description\":\"A Stripe event exactly as " \
    "Stripe sends it. The signature covers the raw bytes, so the body is " \
    "read unparsed and verified before anything else.\"," \
    "\"required\":[\"id\",\"type\",\"created\",\"data\"],\"properties\":{" \
    "\"id\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"}," \
    "\"created\":{\"type\":\"integer\"},\"livemode\":{\"type\":\"boolean\"}," \
    "\"data\":{\"type\":\"object\",\"properties\":{\"object\":" \
      "{\"type\":\"object\"}}}}}"

#define S_WEBHOOK_RES \
    "{\"type\":\"object\",\"required\":[\"received\",\"id\",\"outcome\"]," \
    "\"properties\":{\"received\":{\"type\":\"boolean\",\"const\":true}," \
    "\"id\":{\"type\":\"string\",\"description\":\"The event id.\"}," \
    "\"outcome\":{\"type\":\"string\",\"enum\":[\"applied\",\"ignored\"," \
      "\"stale\",\"duplicate\"],\"description\":\"applied: the event " \
      "changed the subscription state; ignored: a type or object we do " \
      "not use; stale: a newer state was applied already; duplicate: " \
      "the event id was received before (nothing changed).\"}}}"

static const char *const E_CHECKOUT[] = { "BAD_REQUEST",
    "IDEMPOTENCY_KEY_REQUIRED", "UNAUTHORIZED", "FORBIDDEN", "CSRF_FAILED",
    "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "VALIDATION_ERROR",
    "IDEMPOTENCY_CONFLICT", "RATE_LIMITED", "CHECKOUT_UNAVAILABLE",
    "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_WEBHOOK[] = { "BAD_REQUEST",
    "WEBHOOK_SIGNATURE_INVALID", "PAYLOAD_TOO_LARGE", "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR", NULL };

static const webot_param_t P_CHECKOUT[] = {
    { "Idempotency-Key", "header",
      "{\"type\":\"string\",\"minLength\":16,\"maxLength\":128,"
      "\"pattern\":\"^[A-Za-z0-9._:-]+$\"}",
      "Optional. The same key (with the same tier) answers with the same "
      "Checkout Session for 24 hours instead of creating another." },
    { NULL, NULL, NULL, NULL }
};
static const webot_param_t P_WEBHOOK[] = {
    { "Stripe-Signature", "header", "{\"type\":\"string\"}",
      "t=<unix time>,v1=<HMAC-SHA256 of \"t.payload\" with the endpoint's "
      "signing secret> (Stripe sets it)." },
    { NULL, NULL, NULL, NULL }
};

int webot_h_checkout(struct webot_req_t *wr);
int webot_h_stripe_webhook(struct webot_req_t *wr);

#endif
