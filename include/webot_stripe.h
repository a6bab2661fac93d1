/* webot_stripe.h: the Stripe pieces of the core, without httpd:
 *   - webhook signatures (webot_stripe_sig.c): the Stripe-Signature header,
 *     HMAC-SHA256 over "t.payload", several secrets for rotation;
 *   - Stripe objects (webot_stripe_obj.c): webhook events reduced to the
 *     fields entitlements need, price verification against a catalog plan,
 *     form encoding of API requests.
 * Core: APR, jansson and libcrypto only. */
#ifndef WEBOT_STRIPE_H
#define WEBOT_STRIPE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>

#include "webot_catalog.h"

/* --- webhook signatures ---------------------------------------------- */

typedef struct webot_stripe_secret_t {
    const unsigned char *key;       /* the whole "whsec_..." text */
    apr_size_t len;
} webot_stripe_secret_t;

typedef enum {
    WEBOT_STRIPE_SIG_OK = 0,
    WEBOT_STRIPE_SIG_MISSING,       /* no Stripe-Signature header */
    WEBOT_STRIPE_SIG_MALFORMED,     /* unparsable, no/duplicate/bad t= */
    WEBOT_STRIPE_SIG_NO_V1,         /* no v1= value at all */
    WEBOT_STRIPE_SIG_STALE,         /* t older than now - tolerance */
    WEBOT_STRIPE_SIG_FUTURE,        /* t newer than now + tolerance */
    WEBOT_STRIPE_SIG_MISMATCH,      /* no v1 matches any secret */
    WEBOT_STRIPE_SIG_NO_SECRET      /* no webhook secret configured */
} webot_stripe_sig_e;

/* Longest header accepted, and most v1 values looked at. */
#define WEBOT_STRIPE_SIG_MAX_HEADER 8192
#define WEBOT_STRIPE_SIG_MAX_V1     32

/* Verifies a Stripe-Signature header (NULL = missing) for the raw payload:
 * "t=<unix seconds>" exactly once, any number of "v1=<64 hex>", other
 * schemes (v0=, ...) ignored, items separated by commas. A v1 value
 * matches when it equals HMAC-SHA256(secret, "<t>.<payload>") for any of
 * the secrets; every pair is compared in constant time. The timestamp must
 * lie within [now - tolerance, now + tolerance]. On OK, *t_out (may be
 * NULL) is the header's timestamp. */
webot_stripe_sig_e webot_stripe_sig_verify(const char *header,
                                           const void *payload,
                                           apr_size_t len,
                                           const webot_stripe_secret_t *secrets,
                                           int nsecrets, long long now,
                                           long long tolerance,
                                           long long *t_out);

/* A short reason for the log ("timestamp outside the tolerance", ...);
 * never contains header or secret text. */
const char *webot_stripe_sig_reason(webot_stripe_sig_e rc);

/* "t=<t>,v1=<hex>" for the payload (tests, tools). */
char *webot_stripe_sig_header(apr_pool_t *p, const void *key,
                              apr_size_t keylen, long long t,
                              const void *payload, apr_size_t len);

/* Splits the text of a webhook secret file into secrets: one per line,
 * surrounding blanks trimmed, empty lines and lines starting with # are
 * skipped. Appends webot_stripe_secret_t to out. Returns NULL, or a
 * problem (without secret text) such as a secret shorter than minlen. */
const char *webot_stripe_parse_secrets(apr_pool_t *p, const char *text,
                                       apr_size_t minlen,
                                       apr_array_header_t *out);

/* --- API keys --------------------------------------------------------- */

typedef enum {
    WEBOT_STRIPE_MODE_UNKNOWN = 0,
    WEBOT_STRIPE_MODE_TEST,
    WEBOT_STRIPE_MODE_LIVE
} webot_stripe_mode_e;

/* sk_test_/rk_test_ → TEST, sk_live_/rk_live_ → LIVE, else UNKNOWN. */
webot_stripe_mode_e webot_stripe_key_mode(const char *key);

/* --- webhook events ------------------------------------------------------ */

typedef enum {
    WEBOT_SEV_OTHER = 0,            /* a type we do not use */
    WEBOT_SEV_CHECKOUT_COMPLETED,   /* checkout.session.completed */
    WEBOT_SEV_SUB_CREATED,          /* customer.subscription.created */
    WEBOT_SEV_SUB_UPDATED,          /* customer.subscription.updated */
    WEBOT_SEV_SUB_DELETED,          /* customer.subscription.deleted */
    WEBOT_SEV_INVOICE_PAID,         /* invoice.paid */
    WEBOT_SEV_INVOICE_FAILED        /* invoice.payment_failed */
} webot_sev_kind_e;

/* An event reduced to what entitlements use. Strings are NULL when the
 * payload does not carry them; times are Unix seconds, 0 when absent. */
typedef struct webot_stripe_event_t {
    const char *id;                 /* evt_... */
    const char *type;
    webot_sev_kind_e kind;
    long long created;
    int livemode;
    const char *object_id;          /* cs_..., sub_..., in_... */
    const char *subscription_id;
    const char *customer_id;
    /* checkout.session.completed */
    const char *client_reference_id;
    const char *mode;               /* subscription | payment | setup */
    /* customer.subscription.* */
    const char *status;             /* Stripe's subscription status */
    const char *price_id;
    const char *lookup_key;         /* the price's lookup_key */
    /* subscription: current period; invoice: the period paid for */
    long long period_start;
    long long period_end;
} webot_stripe_event_t;

/* Reduces a (verified) event payload. Returns NULL and *why when the JSON
 * is not an event at all (no id, type or created). Missing fields of a
 * known type are left NULL/0: the caller records such an event as
 * ignored. Strings point into p. */
webot_stripe_event_t *webot_stripe_event_parse(apr_pool_t *p,
                                               const json_t *event,
                                               const char **why);

/* --- prices ---------------------------------------------------------- */

/* Looks up the plan's price (by stripe_lookup_key) in a Stripe list object
 * {"object":"list","data":[price...]} and checks it: active, type
 * recurring, recurring.interval = the plan's interval with
 * interval_count 1 and usage_type licensed, unit_amount and currency equal
 * to the plan's display price, per-unit billing, and livemode equal to
 * `live`. Returns NULL when verified (and *price_id), else a one-line
 * problem for the log. */
const char *webot_stripe_price_check(apr_pool_t *p, const json_t *list,
                                     const webot_plan_t *plan, int live,
                                     const char **price_id);

/* --- form encoding ------------------------------------------------------- */

/* application/x-www-form-urlencoded body from name/value pairs (a NULL
 * name ends the list; a NULL value skips the pair). Names keep their
 * brackets as Stripe's own libraries send them ("line_items[0][price]");
 * everything else outside [A-Za-z0-9-._~] is %XX-encoded. */
char *webot_form_encode(apr_pool_t *p, const char *const *pairs);

/* One component, %XX-encoded the same way (brackets too). */
char *webot_url_escape(apr_pool_t *p, const char *s);

#endif
