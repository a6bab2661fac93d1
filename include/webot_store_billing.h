/* webot_store_billing.h: the billing store: Stripe webhook events into
 * subscription state and entitlements (one transaction per event), the
 * verified plan catalog (stripe_prices), the account's Stripe customer.
 * Schema: sql/001_init.sql (entitlements, stripe_events) and
 * sql/004_billing.sql. Core. */
#ifndef WEBOT_STORE_BILLING_H
#define WEBOT_STORE_BILLING_H

#include <apr_pools.h>
#include <apr_hash.h>

#include "webot_store.h"
#include "webot_stripe.h"
#include "webot_catalog.h"

/* What became of an event. */
typedef struct webot_event_result_t {
    const char *outcome;        /* applied | ignored | stale | duplicate */
    const char *account_id;     /* the account it concerns, or NULL */
    const char *note;           /* why ignored/stale, for the log (no
                                 * secrets, no payload) */
    int entitlement_changed;    /* the entitlements row was written */
} webot_event_result_t;

/* Records the event once (stripe_events) and applies it, all in one
 * transaction: a duplicate id changes nothing (also when the same event
 * arrives twice at once: the second waits for the first and then sees it).
 * `ignore_reason` non-NULL records the event as ignored without applying it
 * (e.g. a test-mode event on a live deployment). Plans are looked up in cat
 * by the price's lookup key. On a database failure nothing is kept. */
webot_dbrc_e webot_store_stripe_event(webot_db_t *db, apr_pool_t *p,
                                      const webot_catalog_t *cat,
                                      const webot_stripe_event_t *ev,
                                      const char *ignore_reason,
                                      webot_event_result_t *res);

/* --- verified prices ------------------------------------------------------ */

typedef struct webot_price_state_t {
    const char *plan_id;
    const char *lookup_key;
    const char *key_mode;       /* test | live */
    int verified;
    const char *price_id;       /* when verified */
    long long amount;           /* the catalog values checked against */
    const char *currency;
    const char *interval;
    const char *problem;        /* when not verified */
} webot_price_state_t;

/* Upserts a plan's verification; *changed (may be NULL) tells whether
 * anything but the check time changed. */
webot_dbrc_e webot_store_price_save(webot_db_t *db, apr_pool_t *p,
                                    const webot_price_state_t *st,
                                    int *changed);

/* Every stored verification, by plan id (webot_price_state_t *). */
webot_dbrc_e webot_store_prices_load(webot_db_t *db, apr_pool_t *p,
                                     apr_hash_t **out);

/* Whether a stored state still stands for the plan as the catalog has it
 * now and for the key mode configured now: verified, same lookup key,
 * amount, currency, interval and mode. */
int webot_price_state_valid(const webot_price_state_t *st,
                            const webot_plan_t *plan, const char *key_mode);

/* --- checkout --------------------------------------------------------------- */

/* The account's Stripe customer id (entitlement, else its latest linked
 * subscription), or NULL. */
webot_dbrc_e webot_store_stripe_customer(webot_db_t *db, apr_pool_t *p,
                                         const char *account_id,
                                         const char **customer_id);

/* The catalog plan whose stripe_lookup_key is key, or NULL. */
const webot_plan_t *webot_catalog_plan_by_lookup_key(
    const webot_catalog_t *cat, const char *key);

#endif
