/* mod_webot_billing.c: billing glue: the directives, the webhook and
 * checkout handlers, and the verified plan catalog other routes read.
 *
 *   POST /api/stripe/webhook: raw body (capped) → Stripe-Signature against
 *     every configured secret → event reduced (webot_stripe_obj.c) → one
 *     transaction that records the event id once and applies it
 *     (webot_store_billing.c) → 200 {"received","id","outcome"}.
 *   POST /api/checkout/tier: tier → verified price (stripe_prices) →
 *     Checkout Session at Stripe (mod_webot_stripe.c) → {checkout_url,
 *     checkout_session_id}.
 * Secrets are read at configuration time and never logged. */
#include "mod_webot.h"
#include "mod_webot_billing.h"
#include "webot_store_billing.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_uri.h>
#include <http_core.h>

#include <curl/curl.h>

webot_billing_cfg_t webot_billing;

/* Webhook secrets are "whsec_" + 32 characters; refuse values too short
 * to be one (a placeholder left in the file). */
#define WHSEC_MIN_LEN 16

/* --- directives ------------------------------------------------------- */

static const char *global_only(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

const char *webot_set_stripe_key(cmd_parms *cmd, void *d, const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg), *err;
    const unsigned char *key;
    apr_size_t len, i;
    (void)d;
    if ((err = global_only(cmd))) {
        return err;
    }
    if (!path) {
        return apr_pstrcat(cmd->pool, "WebotStripeSecretKeyFile: invalid "
                           "path ", arg, NULL);
    }
    if ((err = webot_read_secret_file(cmd->pool, "WebotStripeSecretKeyFile",
                                      path, &key, &len, 16))) {
        return err;
    }
    for (i = 0; i < len; i++) {
        if (!apr_isgraph(key[i])) {
            return apr_psprintf(cmd->pool, "WebotStripeSecretKeyFile: %s "
                                "must hold the key alone on one line", path);
        }
    }
    webot_billing.key_mode = webot_stripe_key_mode((const char *)key);
    if (webot_billing.key_mode == WEBOT_STRIPE_MODE_UNKNOWN) {
        /* the message names the file, never its content */
        return apr_psprintf(cmd->pool, "WebotStripeSecretKeyFile: %s does "
                            "not hold a Stripe secret or restricted key "
                            "(sk_test_, sk_live_, rk_test_ or rk_live_)",
                            path);
    }
    webot_billing.secret_key = (const char *)key;
    return NULL;
}

const char *webot_set_stripe_whsec(cmd_parms *cmd, void *d, const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg), *err;
    const unsigned char *text;
    apr_size_t len;
    int before;
    (void)d;
    if ((err = global_only(cmd))) {
        return err;
    }
    if (!path) {
        return apr_pstrcat(cmd->pool, "WebotStripeWebhookSecretFile: invalid "
                           "path ", arg, NULL);
    }
    if ((err = webot_read_secret_file(cmd->pool,
                                      "WebotStripeWebhookSecretFile", path,
                                      &text, &len, 0))) {
        return err;
    }
    if (!webot_billing.webhook_secrets) {
        webot_billing.webhook_secrets = apr_array_make(cmd->pool, 2,
            sizeof(webot_stripe_secret_t));
    }
    before = webot_billing.webhook_secrets->nelts;
    if ((err = webot_stripe_parse_secrets(cmd->pool, (const char *)text,
                                          WHSEC_MIN_LEN,
                                          webot_billing.webhook_secrets))) {
        return apr_psprintf(cmd->pool, "WebotStripeWebhookSecretFile: %s: %s",
                            path, err);
    }
    if (webot_billing.webhook_secrets->nelts == before) {
        return apr_psprintf(cmd->pool, "WebotStripeWebhookSecretFile: %s "
                            "holds no secret", path);
    }
    return NULL;
}

/* An absolute http(s) URL without user info or fragment. */
static const char *check_url(apr_pool_t *p, const char *directive,
                             const char *arg, int base)
{
    apr_uri_t u;
    if (apr_uri_parse(p, arg, &u) != APR_SUCCESS || !u.scheme || !u.hostname
        || (strcasecmp(u.scheme, "https") && strcasecmp(u.scheme, "http"))
        || u.user || u.password || u.fragment || strchr(arg, ' ')
        || (base && u.query)) {
        return apr_psprintf(p, "%s: \"%s\" is not an absolute http(s) URL%s",
                            directive, arg, base ? " without query" : "");
    }
    return NULL;
}

const char *webot_set_stripe_base(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err;
    char *b;
    apr_size_t n;
    (void)d;
    if ((err = global_only(cmd))
        || (err = check_url(cmd->pool, "WebotStripeAPIBase", arg, 1))) {
        return err;
    }
    b = apr_pstrdup(cmd->pool, arg);
    n = strlen(b);
    while (n > 0 && b[n - 1] == '/') {
        b[--n] = '\0';
    }
    webot_billing.api_base = b;
    return NULL;
}

static const char *set_int(cmd_parms *cmd, const char *name, const char *arg,
                           long long min, long long max, int *out)
{
    const char *err = global_only(cmd);
    long long v;
    if (err || (err = webot_parse_directive_int(cmd->pool, name, arg, min,
                                                max, &v))) {
        return err;
    }
    *out = (int)v;
    return NULL;
}

const char *webot_set_stripe_tolerance(cmd_parms *cmd, void *d,
                                       const char *arg)
{
    (void)d;
    return set_int(cmd, "WebotStripeTolerance", arg, 1, 86400,
                   &webot_billing.tolerance);
}

const char *webot_set_stripe_verify(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return set_int(cmd, "WebotStripeVerifyInterval", arg, 1, 7 * 86400,
                   &webot_billing.verify_interval);
}

const char *webot_set_stripe_timeout(cmd_parms *cmd, void *d,
                                     const char *arg)
{
    (void)d;
    return set_int(cmd, "WebotStripeTimeout", arg, 1, 120,
                   &webot_billing.timeout);
}

const char *webot_set_checkout_success(cmd_parms *cmd, void *d,
                                       const char *arg)
{
    const char *err;
    (void)d;
    if ((err = global_only(cmd))
        || (err = check_url(cmd->pool, "WebotCheckoutSuccessURL", arg, 0))) {
        return err;
    }
    webot_billing.success_url = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

const char *webot_set_checkout_cancel(cmd_parms *cmd, void *d,
                                      const char *arg)
{
    const char *err;
    (void)d;
    if ((err = global_only(cmd))
        || (err = check_url(cmd->pool, "WebotCheckoutCancelURL", arg, 0))) {
        return err;
    }
    webot_billing.cancel_url = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

/* "259200", "72h", "3d", "90m", "30s": 0 to 90 days. */
const char *webot_set_past_due_grace(cmd_parms *cmd, void *d,
                                     const char *arg)
{
    const char *err = global_only(cmd);
    apr_size_t n = strlen(arg);
    long long mult = 1, v;
    char *num;
    (void)d;
    if (err) {
        return err;
    }
    num = apr_pstrdup(cmd->pool, arg);
    if (n > 1 && apr_isalpha(num[n - 1])) {
        switch (apr_tolower(num[n - 1])) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        default: mult = 0; break;
        }
        num[n - 1] = '\0';
    }
    if (!mult || webot_parse_int(num, 0, 90LL * 86400, &v)
        || v * mult > 90LL * 86400) {
        return apr_psprintf(cmd->pool, "WebotPastDueGrace: \"%s\" is not a "
                            "duration from 0 to 90 days (seconds, or a "
                            "number with s, m, h or d)", arg);
    }
    webot_past_due_grace = apr_time_from_sec(v * mult);
    return NULL;
}

/* --- hooks ---------------------------------------------------------------- */

static int billing_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    memset(&webot_billing, 0, sizeof(webot_billing));
    webot_billing.api_base = WEBOT_STRIPE_DEFAULT_API_BASE;
    webot_billing.tolerance = WEBOT_STRIPE_DEFAULT_TOLERANCE;
    webot_billing.verify_interval = WEBOT_STRIPE_DEFAULT_VERIFY;
    webot_billing.timeout = WEBOT_STRIPE_DEFAULT_TIMEOUT;
    return OK;
}

static int billing_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    static int curl_ready;
    (void)plog;
    (void)ptemp;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (!curl_ready) {
        /* once, while the parent is still single-threaded */
        CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (cc != CURLE_OK) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(30400)
                         "curl_global_init failed: %s",
                         curl_easy_strerror(cc));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        curl_ready = 1;
    }
    if (!webot_billing.webhook_secrets) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30401)
                     "no WebotStripeWebhookSecretFile: the Stripe webhook "
                     "route refuses every event");
    }
    if (webot_billing.secret_key
        && (!webot_billing.success_url || !webot_billing.cancel_url)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30402)
                     "WebotStripeSecretKeyFile is set but "
                     "WebotCheckoutSuccessURL or WebotCheckoutCancelURL is "
                     "not: checkout stays unavailable");
    }
    if (!webot_billing.secret_key) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30403)
                     "no WebotStripeSecretKeyFile: plans are not verified "
                     "and checkout is unavailable");
        return OK;
    }
    if (webot_stripe_post_config(pconf, s) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void billing_child_init(apr_pool_t *p, server_rec *s)
{
    webot_stripe_child_init(p, s);
}

void webot_billing_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(billing_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(billing_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* after mod_watchdog's: our stop flag's pre-cleanup then runs before
     * the watchdog joins its thread (pre-cleanups run last-in first) */
    ap_hook_child_init(billing_child_init, NULL, NULL, APR_HOOK_LAST);
}

/* --- the verified plan catalog ------------------------------------------------ */

static const char *key_mode_name(void)
{
    return webot_billing.key_mode == WEBOT_STRIPE_MODE_LIVE ? "live"
         : webot_billing.key_mode == WEBOT_STRIPE_MODE_TEST ? "test" : NULL;
}

/* The stored verifications, read once per request (NULL: none usable). */
static apr_hash_t *price_states(webot_req_t *wr)
{
    static const char key[] = "webot_billing_prices";
    apr_hash_t *h = NULL;
    webot_error_t *err = NULL;
    webot_db_t *db;
    void *v = NULL;

    if (!webot_billing.secret_key) {
        return NULL;
    }
    apr_pool_userdata_get(&v, key, wr->p);
    if (v) {
        return v;
    }
    if (!(db = webot_req_db(wr, &err))
        || webot_store_prices_load(db, wr->p, &h) != WEBOT_DB_OK) {
        /* unknown counts as not verified (not kept: the dispatcher's
         * retry on a fresh connection reads again) */
        return apr_hash_make(wr->p);
    }
    apr_pool_userdata_setn(h, key, NULL, wr->p);
    return h;
}

static const webot_price_state_t *plan_state(webot_req_t *wr,
                                             const webot_plan_t *pl)
{
    apr_hash_t *h = price_states(wr);
    const webot_price_state_t *st = h ? apr_hash_get(h, pl->id,
                                                     APR_HASH_KEY_STRING)
                                      : NULL;
    return webot_price_state_valid(st, pl, key_mode_name()) ? st : NULL;
}

int webot_billing_plan_available(webot_req_t *wr, const webot_plan_t *pl)
{
    return plan_state(wr, pl) != NULL;
}

const char *webot_billing_catalog_state(webot_req_t *wr)
{
    const webot_catalog_t *c = wr->sc->catalog;
    int i;
    if (!c || !c->plans->nelts) {
        return "unverified";
    }
    for (i = 0; i < c->plans->nelts; i++) {
        if (!plan_state(wr, APR_ARRAY_IDX(c->plans, i, webot_plan_t *))) {
            return "unverified";
        }
    }
    return "verified";
}

/* --- POST /api/stripe/webhook ----------------------------------------------- */

int webot_h_stripe_webhook(webot_req_t *wr)
{
    request_rec *r = wr->r;
    const char *sig = apr_table_get(r->headers_in, "Stripe-Signature");
    const webot_stripe_secret_t *secrets = NULL;
    const char *why = NULL, *ignore = NULL;
    webot_stripe_event_t *ev;
    webot_event_result_t res;
    webot_stripe_sig_e sr;
    webot_error_t *e = NULL;
    webot_db_t *db;
    webot_dbrc_e rc;
    json_t *j;
    int nsecrets = 0;

    /* on the retry after a lost database connection the body is read */
    if (!wr->attempt && (e = webot_read_raw_body(wr,
                                                 WEBOT_WEBHOOK_MAX_BYTES))) {
        return webot_send_error(wr, e);
    }
    if (webot_billing.webhook_secrets) {
        secrets = (const webot_stripe_secret_t *)
                  webot_billing.webhook_secrets->elts;
        nsecrets = webot_billing.webhook_secrets->nelts;
    }
    sr = webot_stripe_sig_verify(sig, wr->raw_body, wr->raw_len, secrets,
                                 nsecrets, apr_time_sec(apr_time_now()),
                                 webot_billing.tolerance, NULL);
    if (sr != WEBOT_STRIPE_SIG_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(30410)
                      "stripe webhook refused: %s (request_id %s)",
                      webot_stripe_sig_reason(sr), wr->request_id);
        return webot_fail(wr, "WEBHOOK_SIGNATURE_INVALID",
                          "The Stripe-Signature header is not valid: %s.",
                          webot_stripe_sig_reason(sr));
    }
    j = webot_json_parse(wr->p, wr->raw_body, wr->raw_len, &why);
    if (!j) {
        return webot_fail(wr, "BAD_REQUEST", "The event is not valid JSON: "
                          "%s.", why);
    }
    if (!(ev = webot_stripe_event_parse(wr->p, j, &why))) {
        return webot_fail(wr, "BAD_REQUEST", "%s.", why);
    }
    if (webot_billing.key_mode != WEBOT_STRIPE_MODE_UNKNOWN
        && ev->livemode != (webot_billing.key_mode == WEBOT_STRIPE_MODE_LIVE)) {
        ignore = ev->livemode ? "a live-mode event on a test-mode deployment"
                              : "a test-mode event on a live-mode deployment";
    }
    if (!(db = webot_req_db(wr, &e))) {
        return webot_send_error(wr, e);
    }
    rc = webot_store_stripe_event(db, wr->p, wr->sc->catalog, ev, ignore,
                                  &res);
    if (rc != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(30411)
                  "stripe event %s (%s) %s%s%s%s%s%s (request_id %s)",
                  ap_escape_logitem(wr->p, ev->id),
                  ap_escape_logitem(wr->p, ev->type), res.outcome,
                  res.account_id ? " for " : "",
                  res.account_id ? res.account_id : "",
                  res.note ? ": " : "", res.note ? res.note : "",
                  res.entitlement_changed ? "; entitlement updated" : "",
                  wr->request_id);
    return webot_send_json(wr, HTTP_OK, webot_json_own(wr->p,
        json_pack("{s:b,s:s,s:s}", "received", 1, "id", ev->id,
                  "outcome", res.outcome)));
}

/* --- POST /api/checkout/tier ------------------------------------------------ */

/* CHECKOUT_UNAVAILABLE because Stripe failed: worth a retry. */
static int stripe_failed(webot_req_t *wr, const char *msg)
{
    webot_error_t *e = webot_error_make(wr->p, "CHECKOUT_UNAVAILABLE", "%s",
                                        msg);
    e->suggested_action = "retry";
    e->suggested_endpoint = NULL;
    e->retry_after = 5;
    return webot_send_error(wr, e);
}

int webot_h_checkout(webot_req_t *wr)
{
    request_rec *r = wr->r;
    const webot_auth_t *a = wr->auth;
    const char *tier = webot_json_str(wr->body, "tier");
    const char *idem = apr_table_get(r->headers_in, "Idempotency-Key");
    const char *customer = NULL, *stripe_idem, *form, *url, *id;
    const webot_price_state_t *st;
    const webot_plan_t *pl;
    webot_stripe_resp_t resp;
    webot_error_t *e = NULL;
    webot_db_t *db;
    webot_dbrc_e rc;
    apr_status_t rv;

    if (idem && !webot_idempotency_key_valid(idem)) {
        e = webot_error_make(wr->p, "IDEMPOTENCY_KEY_REQUIRED",
            "Idempotency-Key must be 16 to 128 characters of "
            "[A-Za-z0-9._:-].");
        e->param = "Idempotency-Key";
        return webot_send_error(wr, e);
    }
    if (!tier || !(pl = webot_catalog_plan(wr->sc->catalog, tier))) {
        e = webot_error_make(wr->p, "VALIDATION_ERROR",
                             "The request body is not valid.");
        webot_error_add_param(wr->p, e, "tier", apr_psprintf(wr->p,
            "no plan has the id \"%s\"; see GET /api/v1/plans",
            tier ? ap_escape_logitem(wr->p, tier) : ""));
        e->suggested_endpoint = "GET /api/v1/plans";
        return webot_send_error(wr, e);
    }
    if (!webot_billing.secret_key || !webot_billing.success_url
        || !webot_billing.cancel_url) {
        return webot_fail(wr, "CHECKOUT_UNAVAILABLE",
                          "Checkout is not configured on this server.");
    }
    if (!(db = webot_req_db(wr, &e))) {
        return webot_send_error(wr, e);
    }
    if (!(st = plan_state(wr, pl))) {
        if (db->down) {
            return webot_send_error(wr, webot_db_error(wr->p,
                                                       WEBOT_DB_DOWN));
        }
        return webot_fail(wr, "CHECKOUT_UNAVAILABLE",
                          "The Stripe price of plan %s is not verified for "
                          "this deployment; checkout_available in GET "
                          "/api/v1/plans shows when it is.", pl->id);
    }
    if ((rc = webot_store_stripe_customer(db, wr->p, a->account_id,
                                          &customer))) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    /* no database connection is held while Stripe answers */
    webot_req_db_release(wr);

    if (idem) {
        unsigned char sum[WEBOT_SHA256_LEN];
        const char *fp = apr_pstrcat(wr->p, a->account_id, "\n", pl->id,
                                     "\n", idem, NULL);
        webot_sha256(fp, strlen(fp), sum);
        stripe_idem = apr_pstrcat(wr->p, "webot-checkout-",
                                  webot_hex(wr->p, sum, 24), NULL);
    }
    else {
        stripe_idem = webot_id_new(wr->p, "webot-checkout-");
    }
    {
        const char *pairs[] = {
            "mode", "subscription",
            "line_items[0][price]", st->price_id,
            "line_items[0][quantity]", "1",
            "client_reference_id", a->account_id,
            "customer", customer,
            "customer_email", customer ? NULL : a->email,
            "metadata[account_id]", a->account_id,
            "metadata[tier]", pl->id,
            "subscription_data[metadata][account_id]", a->account_id,
            "subscription_data[metadata][tier]", pl->id,
            "success_url", webot_billing.success_url,
            "cancel_url", webot_billing.cancel_url,
            NULL, NULL };
        form = webot_form_encode(wr->p, pairs);
    }
    rv = webot_stripe_call(wr->p, r->server, "POST", "/v1/checkout/sessions",
                           form, stripe_idem, &resp);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30420)
                      "checkout: Stripe unreachable: %s (request_id %s)",
                      resp.transport ? resp.transport : "no answer",
                      wr->request_id);
        return stripe_failed(wr, "Stripe could not be reached; nothing was "
                             "created. Retry in a few seconds.");
    }
    if (resp.status >= 500 || resp.status == 429) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30421)
                      "checkout: Stripe answered %d %s (request_id %s)",
                      resp.status, resp.err_type ? resp.err_type : "",
                      wr->request_id);
        return stripe_failed(wr, "Stripe is not available right now; "
                             "retry in a few seconds.");
    }
    if (resp.status >= 400) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30422)
                      "checkout: Stripe refused the Checkout Session for "
                      "plan %s: %d %s%s%s: %s (request_id %s)", pl->id,
                      resp.status, resp.err_type ? resp.err_type : "",
                      resp.err_code ? "/" : "",
                      resp.err_code ? resp.err_code : "",
                      resp.err_message
                      ? ap_escape_logitem(wr->p,
                            apr_pstrndup(wr->p, resp.err_message, 300))
                      : "", wr->request_id);
        if (resp.err_type && !strcmp(resp.err_type, "idempotency_error")) {
            e = webot_error_make(wr->p, "IDEMPOTENCY_CONFLICT",
                "This Idempotency-Key was used for a different checkout.");
            e->param = "Idempotency-Key";
            return webot_send_error(wr, e);
        }
        return webot_fail(wr, "CHECKOUT_UNAVAILABLE",
                          "Stripe refused to start the checkout; the "
                          "operator has been told (see the server log).");
    }
    id = webot_json_str(resp.json, "id");
    url = webot_json_str(resp.json, "url");
    if (!id || !url || strncmp(id, "cs_", 3)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30423)
                      "checkout: Stripe answered %d without a Checkout "
                      "Session id and url (request_id %s)", resp.status,
                      wr->request_id);
        return stripe_failed(wr, "Stripe's answer was not understood; "
                             "retry in a few seconds.");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(30424)
                  "checkout: session %s for %s, plan %s (request_id %s)",
                  ap_escape_logitem(wr->p, id), a->account_id, pl->id,
                  wr->request_id);
    return webot_send_json(wr, HTTP_OK, webot_json_own(wr->p,
        json_pack("{s:s,s:s}", "checkout_url", url,
                  "checkout_session_id", id)));
}
