/* webot_stripe_obj.c: Stripe objects: webhook events reduced to what
 * entitlements use, price verification, form encoding. See
 * webot_stripe.h. */
#include "webot_stripe.h"
#include "webot_json.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <string.h>

/* --- small JSON helpers ------------------------------------------------ */

static const char *str_of(apr_pool_t *p, const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_string(v) ? apr_pstrdup(p, json_string_value(v)) : NULL;
}

/* A field that is an id, or an expanded object carrying one. */
static const char *id_of(apr_pool_t *p, const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (json_is_string(v)) {
        return apr_pstrdup(p, json_string_value(v));
    }
    if (json_is_object(v)) {
        return str_of(p, v, "id");
    }
    return NULL;
}

static long long int_of(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static const json_t *obj_of(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_object(v) ? v : NULL;
}

/* o.key.data (a list object's array) */
static const json_t *list_data(const json_t *o, const char *key)
{
    const json_t *l = key ? obj_of(o, key) : o;
    const json_t *d = l ? json_object_get(l, "data") : NULL;
    return json_is_array(d) ? d : NULL;
}

static webot_sev_kind_e kind_of(const char *type)
{
    static const struct { const char *type; webot_sev_kind_e kind; } k[] = {
        { "checkout.session.completed", WEBOT_SEV_CHECKOUT_COMPLETED },
        { "customer.subscription.created", WEBOT_SEV_SUB_CREATED },
        { "customer.subscription.updated", WEBOT_SEV_SUB_UPDATED },
        { "customer.subscription.deleted", WEBOT_SEV_SUB_DELETED },
        { "invoice.paid", WEBOT_SEV_INVOICE_PAID },
        { "invoice.payment_failed", WEBOT_SEV_INVOICE_FAILED },
    };
    apr_size_t i;
    for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        if (!strcmp(type, k[i].type)) {
            return k[i].kind;
        }
    }
    return WEBOT_SEV_OTHER;
}

static void parse_subscription(apr_pool_t *p, const json_t *o,
                               webot_stripe_event_t *ev)
{
    const json_t *items = list_data(o, "items");
    const json_t *item = items && json_array_size(items)
                         ? json_array_get(items, 0) : NULL;
    const json_t *price = obj_of(item, "price");

    ev->subscription_id = str_of(p, o, "id");
    ev->customer_id = id_of(p, o, "customer");
    ev->status = str_of(p, o, "status");
    if (price) {
        ev->price_id = str_of(p, price, "id");
        ev->lookup_key = str_of(p, price, "lookup_key");
    }
    /* The current period sits on the subscription in API versions before
     * 2025-03-31 and on its items from then on. */
    ev->period_start = int_of(o, "current_period_start");
    ev->period_end = int_of(o, "current_period_end");
    if (!ev->period_end && item) {
        ev->period_start = int_of(item, "current_period_start");
        ev->period_end = int_of(item, "current_period_end");
    }
}

static void parse_invoice(apr_pool_t *p, const json_t *o,
                          webot_stripe_event_t *ev)
{
    const json_t *lines = list_data(o, "lines");
    const json_t *line = NULL;
    apr_size_t i;

    ev->customer_id = id_of(p, o, "customer");
    ev->subscription_id = id_of(p, o, "subscription");
    if (!ev->subscription_id) {        /* API 2025-03-31 and later */
        const json_t *sd = obj_of(obj_of(o, "parent"),
                                  "subscription_details");
        ev->subscription_id = id_of(p, sd, "subscription");
    }
    /* The period paid for is the subscription line's period (an invoice's
     * own period_start/end is the previous period on renewals). */
    for (i = 0; lines && i < json_array_size(lines); i++) {
        const json_t *l = json_array_get(lines, i);
        const json_t *sid = obj_of(obj_of(l, "parent"),
                                   "subscription_item_details");
        const char *type = str_of(p, l, "type");
        if (!obj_of(l, "period")) {
            continue;
        }
        if ((type && !strcmp(type, "subscription")) || sid) {
            line = l;
            if (!ev->subscription_id) {
                ev->subscription_id = id_of(p, l, "subscription");
            }
            if (!ev->subscription_id && sid) {
                ev->subscription_id = id_of(p, sid, "subscription");
            }
            break;
        }
        if (!line) {
            line = l;
        }
    }
    if (line) {
        const json_t *per = obj_of(line, "period");
        ev->period_start = int_of(per, "start");
        ev->period_end = int_of(per, "end");
    }
    if (!ev->period_end) {
        ev->period_start = int_of(o, "period_start");
        ev->period_end = int_of(o, "period_end");
    }
}

webot_stripe_event_t *webot_stripe_event_parse(apr_pool_t *p,
                                               const json_t *event,
                                               const char **why)
{
    webot_stripe_event_t *ev;
    const json_t *v, *o;

    if (!json_is_object(event)) {
        *why = "the payload is not a JSON object";
        return NULL;
    }
    ev = apr_pcalloc(p, sizeof(*ev));
    ev->id = str_of(p, event, "id");
    ev->type = str_of(p, event, "type");
    v = json_object_get(event, "created");
    if (!ev->id || !*ev->id || strlen(ev->id) > 255 || !ev->type
        || !*ev->type || strlen(ev->type) > 255 || !json_is_integer(v)
        || json_integer_value(v) < 0) {
        *why = "the payload is not a Stripe event (id, type, created)";
        return NULL;
    }
    ev->created = (long long)json_integer_value(v);
    ev->livemode = json_is_true(json_object_get(event, "livemode"));
    ev->kind = kind_of(ev->type);
    o = obj_of(obj_of(event, "data"), "object");
    if (!o) {
        ev->kind = WEBOT_SEV_OTHER;
        return ev;
    }
    ev->object_id = str_of(p, o, "id");
    switch (ev->kind) {
    case WEBOT_SEV_CHECKOUT_COMPLETED:
        ev->client_reference_id = str_of(p, o, "client_reference_id");
        ev->mode = str_of(p, o, "mode");
        ev->customer_id = id_of(p, o, "customer");
        ev->subscription_id = id_of(p, o, "subscription");
        break;
    case WEBOT_SEV_SUB_CREATED:
    case WEBOT_SEV_SUB_UPDATED:
    case WEBOT_SEV_SUB_DELETED:
        parse_subscription(p, o, ev);
        break;
    case WEBOT_SEV_INVOICE_PAID:
    case WEBOT_SEV_INVOICE_FAILED:
        parse_invoice(p, o, ev);
        break;
    case WEBOT_SEV_OTHER:
        break;
    }
    return ev;
}

/* --- prices --------------------------------------------------------------- */

const char *webot_stripe_price_check(apr_pool_t *p, const json_t *list,
                                     const webot_plan_t *plan, int live,
                                     const char **price_id)
{
    const json_t *data = list_data(list, NULL);
    const json_t *price = NULL, *rec, *v;
    const char *key = plan->stripe_lookup_key, *s;
    apr_size_t i;

    if (!data) {
        return "Stripe answered without a list of prices";
    }
    for (i = 0; i < json_array_size(data); i++) {
        const json_t *pr = json_array_get(data, i);
        s = json_string_value(json_object_get(pr, "lookup_key"));
        if (s && !strcmp(s, key)) {
            price = pr;
            break;
        }
    }
    if (!price) {
        return apr_psprintf(p, "no active price has the lookup key %s", key);
    }
    s = str_of(p, price, "id");
    if (!s || !*s) {
        return apr_psprintf(p, "the price with lookup key %s has no id", key);
    }
    if (!json_is_true(json_object_get(price, "active"))) {
        return apr_psprintf(p, "price %s is not active", s);
    }
    v = json_object_get(price, "livemode");
    if (!json_is_boolean(v) || json_is_true(v) != !!live) {
        return apr_psprintf(p, "price %s is a %s-mode price but the secret "
                            "key is a %s-mode key", s,
                            json_is_true(v) ? "live" : "test",
                            live ? "live" : "test");
    }
    if (!(rec = obj_of(price, "recurring"))
        || (str_of(p, price, "type")
            && strcmp(str_of(p, price, "type"), "recurring"))) {
        return apr_psprintf(p, "price %s is not recurring", s);
    }
    if (!str_of(p, rec, "interval")
        || strcmp(str_of(p, rec, "interval"), plan->interval)) {
        return apr_psprintf(p, "price %s recurs every %s, the plan every %s",
                            s, str_of(p, rec, "interval")
                               ? str_of(p, rec, "interval") : "(none)",
                            plan->interval);
    }
    v = json_object_get(rec, "interval_count");
    if (v && (!json_is_integer(v) || json_integer_value(v) != 1)) {
        return apr_psprintf(p, "price %s recurs every %s %s, not every %s",
                            s, webot_json_dump_short(p, v),
                            plan->interval, plan->interval);
    }
    if (str_of(p, rec, "usage_type")
        && strcmp(str_of(p, rec, "usage_type"), "licensed")) {
        return apr_psprintf(p, "price %s is metered, not licensed", s);
    }
    if (str_of(p, price, "billing_scheme")
        && strcmp(str_of(p, price, "billing_scheme"), "per_unit")) {
        return apr_psprintf(p, "price %s is not billed per unit", s);
    }
    v = json_object_get(price, "transform_quantity");
    if (v && !json_is_null(v)) {
        return apr_psprintf(p, "price %s transforms the quantity", s);
    }
    v = json_object_get(price, "unit_amount");
    if (!json_is_integer(v)
        || (long long)json_integer_value(v) != plan->price_amount) {
        return apr_psprintf(p, "price %s amount is %s, the plan's is %"
                            APR_INT64_T_FMT, s, json_is_integer(v)
                               ? apr_psprintf(p, "%" APR_INT64_T_FMT,
                                     (apr_int64_t)json_integer_value(v))
                               : "not a fixed amount",
                            (apr_int64_t)plan->price_amount);
    }
    if (!str_of(p, price, "currency")
        || strcasecmp(str_of(p, price, "currency"), plan->currency)) {
        return apr_psprintf(p, "price %s currency is %s, the plan's is %s",
                            s, str_of(p, price, "currency")
                               ? str_of(p, price, "currency") : "(none)",
                            plan->currency);
    }
    *price_id = s;
    return NULL;
}

/* --- form encoding -------------------------------------------------------- */

static char *escape(apr_pool_t *p, const char *s, int keep_brackets)
{
    static const char hx[] = "0123456789ABCDEF";
    apr_size_t n = strlen(s), i, o = 0;
    char *out = apr_palloc(p, 3 * n + 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'
            || (keep_brackets && (c == '[' || c == ']'))) {
            out[o++] = (char)c;
        }
        else {
            out[o++] = '%';
            out[o++] = hx[c >> 4];
            out[o++] = hx[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

char *webot_url_escape(apr_pool_t *p, const char *s)
{
    return escape(p, s, 0);
}

char *webot_form_encode(apr_pool_t *p, const char *const *pairs)
{
    char *out = "";
    int first = 1;
    for (; pairs[0]; pairs += 2) {
        if (!pairs[1]) {
            continue;
        }
        out = apr_pstrcat(p, out, first ? "" : "&", escape(p, pairs[0], 1),
                          "=", escape(p, pairs[1], 0), NULL);
        first = 0;
    }
    return out;
}
