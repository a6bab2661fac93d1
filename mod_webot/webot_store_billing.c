/* webot_store_billing.c: Stripe webhook events → subscription state →
 * entitlements; verified prices; the account's Stripe customer. See
 * webot_store_billing.h and sql/004_billing.sql for the order-independence
 * rules. */
#include "webot_store_billing.h"
#include "webot_util.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

/* --- statements ----------------------------------------------------------- */

static const webot_stmt_t ST_EVENT_INSERT = { "webot_bill_event_insert",
    "INSERT INTO stripe_events (id, type, created, subscription_id, livemode)"
    " VALUES (%s, %s, %s::bigint, %s, %s::boolean)"
    " ON CONFLICT (id) DO NOTHING RETURNING id" };

static const webot_stmt_t ST_EVENT_DONE = { "webot_bill_event_done",
    "UPDATE stripe_events SET outcome = %s, account_id = %s,"
    " processed_at = now() WHERE id = %s" };

static const webot_stmt_t ST_ACCOUNT_EXISTS = { "webot_bill_account_exists",
    "SELECT 1 FROM accounts WHERE id = %s" };

/* checkout.session.completed: the link is set once. */
static const webot_stmt_t ST_SUB_LINK = { "webot_bill_sub_link",
    "INSERT INTO stripe_subscriptions AS s (id, customer_id, account_id,"
    "  link_created) VALUES (%s, %s, %s, %s::bigint)"
    " ON CONFLICT (id) DO UPDATE SET account_id = EXCLUDED.account_id,"
    "  link_created = EXCLUDED.link_created,"
    "  customer_id = coalesce(s.customer_id, EXCLUDED.customer_id),"
    "  updated_at = now()"
    " WHERE s.account_id IS NULL"
    " RETURNING s.account_id" };

static const webot_stmt_t ST_SUB_ACCOUNT = { "webot_bill_sub_account",
    "SELECT account_id FROM stripe_subscriptions WHERE id = %s" };

/* customer.subscription.*: the whole state of the winning event. Terminal
 * statuses are never undone; otherwise the greater (created,
 * current_period_end, type rank, status rank) wins. */
#define TERMINAL(x) "(" x " IN ('canceled','incomplete_expired'))"
static const webot_stmt_t ST_SUB_STATE = { "webot_bill_sub_state",
    "INSERT INTO stripe_subscriptions AS s (id, customer_id, status, plan_id,"
    "  lookup_key, price_id, period_start, period_end, sub_created,"
    "  sub_period_end, sub_type_rank, sub_status_rank)"
    " VALUES (%s, %s, %s, %s, %s, %s, to_timestamp(%s::bigint),"
    "  to_timestamp(%s::bigint), %s::bigint, %s::bigint, %s::int, %s::int)"
    " ON CONFLICT (id) DO UPDATE SET"
    "  customer_id = coalesce(EXCLUDED.customer_id, s.customer_id),"
    "  status = EXCLUDED.status, plan_id = EXCLUDED.plan_id,"
    "  lookup_key = EXCLUDED.lookup_key, price_id = EXCLUDED.price_id,"
    "  period_start = EXCLUDED.period_start,"
    "  period_end = EXCLUDED.period_end,"
    "  sub_created = EXCLUDED.sub_created,"
    "  sub_period_end = EXCLUDED.sub_period_end,"
    "  sub_type_rank = EXCLUDED.sub_type_rank,"
    "  sub_status_rank = EXCLUDED.sub_status_rank, updated_at = now()"
    " WHERE s.sub_created IS NULL"
    "  OR (" TERMINAL("EXCLUDED.status") " AND NOT " TERMINAL("s.status") ")"
    "  OR (" TERMINAL("EXCLUDED.status") " = " TERMINAL("s.status")
    "      AND (EXCLUDED.sub_created, EXCLUDED.sub_period_end,"
    "           EXCLUDED.sub_type_rank, EXCLUDED.sub_status_rank)"
    "        > (s.sub_created, coalesce(s.sub_period_end, 0),"
    "           coalesce(s.sub_type_rank, 0), coalesce(s.sub_status_rank, 0)))"
    " RETURNING s.account_id" };

/* invoice.paid: the greatest period paid for wins. */
static const webot_stmt_t ST_SUB_PAID = { "webot_bill_sub_paid",
    "INSERT INTO stripe_subscriptions AS s (id, customer_id,"
    "  paid_period_start, paid_period_end)"
    " VALUES (%s, %s, to_timestamp(%s::bigint), to_timestamp(%s::bigint))"
    " ON CONFLICT (id) DO UPDATE SET"
    "  customer_id = coalesce(s.customer_id, EXCLUDED.customer_id),"
    "  paid_period_start = CASE WHEN s.paid_period_end IS NULL"
    "    OR (EXCLUDED.paid_period_end, EXCLUDED.paid_period_start)"
    "     > (s.paid_period_end, s.paid_period_start)"
    "    THEN EXCLUDED.paid_period_start ELSE s.paid_period_start END,"
    "  paid_period_end = CASE WHEN s.paid_period_end IS NULL"
    "    OR (EXCLUDED.paid_period_end, EXCLUDED.paid_period_start)"
    "     > (s.paid_period_end, s.paid_period_start)"
    "    THEN EXCLUDED.paid_period_end ELSE s.paid_period_end END,"
    "  updated_at = now()"
    " RETURNING s.account_id" };

/* invoice.payment_failed: the row must exist (and is locked, which
 * serializes the events of one subscription). */
static const webot_stmt_t ST_SUB_TOUCH = { "webot_bill_sub_touch",
    "INSERT INTO stripe_subscriptions AS s (id, customer_id) VALUES (%s, %s)"
    " ON CONFLICT (id) DO UPDATE SET"
    "  customer_id = coalesce(s.customer_id, EXCLUDED.customer_id),"
    "  updated_at = now()"
    " RETURNING s.account_id" };

/* Serializes the entitlement derivations of one account. */
static const webot_stmt_t ST_ACCOUNT_LOCK = { "webot_bill_account_lock",
    "SELECT pg_advisory_xact_lock(hashtext('webot.entitlement:' || %s))" };

static const webot_stmt_t ST_ACCOUNT_SUBS = { "webot_bill_account_subs",
    "SELECT id, customer_id, coalesce(link_created, 0), status, plan_id,"
    "  coalesce(extract(epoch FROM period_start)::bigint, 0),"
    "  coalesce(extract(epoch FROM period_end)::bigint, 0),"
    "  coalesce(sub_created, 0),"
    "  coalesce(extract(epoch FROM paid_period_start)::bigint, 0),"
    "  coalesce(extract(epoch FROM paid_period_end)::bigint, 0)"
    " FROM stripe_subscriptions WHERE account_id = %s"
    " ORDER BY link_created DESC NULLS LAST, id DESC LIMIT 50" };

/* The last invoice.paid, and the first invoice.payment_failed after it. */
static const webot_stmt_t ST_SUB_PAYINFO = { "webot_bill_sub_payinfo",
    "SELECT p.c, (SELECT min(f.created) FROM stripe_events f"
    "   WHERE f.subscription_id = %s AND f.type = 'invoice.payment_failed'"
    "     AND f.created > p.c)"
    " FROM (SELECT coalesce(max(created), -1) AS c FROM stripe_events"
    "       WHERE subscription_id = %s AND type = 'invoice.paid') p" };

static const webot_stmt_t ST_ENT_SOURCE = { "webot_bill_ent_source",
    "SELECT source, stripe_subscription_id FROM entitlements"
    " WHERE account_id = %s" };

/* The derived entitlement; a no-op when nothing differs. Per-account limit
 * overrides of an operator stay. */
static const webot_stmt_t ST_ENT_UPSERT = { "webot_bill_ent_upsert",
    "INSERT INTO entitlements AS e (account_id, plan_id, status, source,"
    "  period_start, period_end, expires_at, past_due_since,"
    "  stripe_customer_id, stripe_subscription_id, stripe_sub_event_created,"
    "  stripe_invoice_event_created, updated_at)"
    " VALUES (%s, %s, %s, 'stripe', to_timestamp(%s::bigint),"
    "  to_timestamp(%s::bigint), NULL, to_timestamp(%s::bigint), %s, %s,"
    "  %s::bigint, %s::bigint, now())"
    " ON CONFLICT (account_id) DO UPDATE SET plan_id = EXCLUDED.plan_id,"
    "  status = EXCLUDED.status, source = 'stripe',"
    "  period_start = EXCLUDED.period_start,"
    "  period_end = EXCLUDED.period_end, expires_at = NULL,"
    "  past_due_since = EXCLUDED.past_due_since,"
    "  stripe_customer_id = EXCLUDED.stripe_customer_id,"
    "  stripe_subscription_id = EXCLUDED.stripe_subscription_id,"
    "  stripe_sub_event_created = EXCLUDED.stripe_sub_event_created,"
    "  stripe_invoice_event_created = EXCLUDED.stripe_invoice_event_created,"
    "  updated_at = now()"
    " WHERE (e.plan_id, e.status, e.source, e.period_start, e.period_end,"
    "        e.expires_at, e.past_due_since, e.stripe_customer_id,"
    "        e.stripe_subscription_id, e.stripe_sub_event_created,"
    "        e.stripe_invoice_event_created)"
    "   IS DISTINCT FROM (EXCLUDED.plan_id, EXCLUDED.status, 'stripe',"
    "        EXCLUDED.period_start, EXCLUDED.period_end, NULL::timestamptz,"
    "        EXCLUDED.past_due_since, EXCLUDED.stripe_customer_id,"
    "        EXCLUDED.stripe_subscription_id,"
    "        EXCLUDED.stripe_sub_event_created,"
    "        EXCLUDED.stripe_invoice_event_created)" };

static const webot_stmt_t ST_PRICE_SAVE = { "webot_bill_price_save",
    "INSERT INTO stripe_prices AS s (plan_id, lookup_key, key_mode, verified,"
    "  price_id, amount, currency, interval, problem)"
    " VALUES (%s, %s, %s, %s::boolean, %s, %s::bigint, %s, %s, %s)"
    " ON CONFLICT (plan_id) DO UPDATE SET lookup_key = EXCLUDED.lookup_key,"
    "  key_mode = EXCLUDED.key_mode, verified = EXCLUDED.verified,"
    "  price_id = EXCLUDED.price_id, amount = EXCLUDED.amount,"
    "  currency = EXCLUDED.currency, interval = EXCLUDED.interval,"
    "  problem = EXCLUDED.problem, checked_at = now(),"
    "  changed_at = CASE WHEN (s.lookup_key, s.key_mode, s.verified,"
    "      s.price_id, s.amount, s.currency, s.interval, s.problem)"
    "    IS DISTINCT FROM (EXCLUDED.lookup_key, EXCLUDED.key_mode,"
    "      EXCLUDED.verified, EXCLUDED.price_id, EXCLUDED.amount,"
    "      EXCLUDED.currency, EXCLUDED.interval, EXCLUDED.problem)"
    "    THEN now() ELSE s.changed_at END"
    " RETURNING (s.changed_at = now())::int" };

static const webot_stmt_t ST_PRICES_LOAD = { "webot_bill_prices_load",
    "SELECT plan_id, lookup_key, key_mode, verified::int, price_id, amount,"
    "  currency, interval, problem FROM stripe_prices" };

static const webot_stmt_t ST_CUSTOMER = { "webot_bill_customer",
    "SELECT coalesce((SELECT stripe_customer_id FROM entitlements"
    "                 WHERE account_id = %s),"
    "  (SELECT customer_id FROM stripe_subscriptions"
    "   WHERE account_id = %s AND customer_id IS NOT NULL"
    "   ORDER BY link_created DESC NULLS LAST, id DESC LIMIT 1))" };

/* --- helpers ------------------------------------------------------------- */

static long long num(const char *s)
{
    return s ? strtoll(s, NULL, 10) : 0;
}

static const char *ll(apr_pool_t *p, long long v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)v);
}

/* A Unix time for to_timestamp(), or NULL for "unknown". */
static const char *ts_arg(apr_pool_t *p, long long v)
{
    return v > 0 ? ll(p, v) : NULL;
}

const webot_plan_t *webot_catalog_plan_by_lookup_key(
    const webot_catalog_t *cat, const char *key)
{
    int i;
    if (!cat || !key) {
        return NULL;
    }
    for (i = 0; i < cat->plans->nelts; i++) {
        const webot_plan_t *pl = APR_ARRAY_IDX(cat->plans, i, webot_plan_t *);
        if (pl->stripe_lookup_key && !strcmp(pl->stripe_lookup_key, key)) {
            return pl;
        }
    }
    return NULL;
}

static int status_rank(const char *s)
{
    static const struct { const char *s; int rank; } r[] = {
        { "incomplete", 0 }, { "trialing", 1 }, { "active", 2 },
        { "past_due", 3 }, { "unpaid", 4 }, { "paused", 4 },
        { "canceled", 5 }, { "incomplete_expired", 5 },
    };
    apr_size_t i;
    for (i = 0; s && i < sizeof(r) / sizeof(r[0]); i++) {
        if (!strcmp(r[i].s, s)) {
            return r[i].rank;
        }
    }
    return 0;
}

static int is(const char *a, const char *b)
{
    return a && !strcmp(a, b);
}

/* --- deriving the entitlement from the account's subscriptions -------------- */

typedef struct sub_t {
    const char *id, *customer, *status, *plan_id;
    long long link_created, ps, pe, sub_created, pps, ppe;
    long long paid_max, fail_min;       /* fail_min 0: none unresolved */
    /* derived */
    int eligible, grants;
    const char *eff;
    long long since, dps, dpe;
} sub_t;

static void derive(sub_t *s)
{
    s->eligible = 0;
    if (!s->status || !s->plan_id) {
        return;
    }
    if (is(s->status, "canceled") || is(s->status, "incomplete_expired")
        || is(s->status, "unpaid") || is(s->status, "paused")) {
        s->eff = "canceled";
    }
    else if (is(s->status, "active") || is(s->status, "trialing")
             || is(s->status, "past_due")) {
        if (s->fail_min > 0) {
            /* a payment failed after the last payment */
            s->eff = "past_due";
            s->since = s->fail_min;
        }
        else if (is(s->status, "past_due")) {
            if (s->paid_max > s->sub_created) {
                s->eff = "active";      /* paid since the state was sent */
            }
            else {
                s->eff = "past_due";
                s->since = s->sub_created;
            }
        }
        else {
            s->eff = s->status;
        }
    }
    else {
        return;                         /* incomplete or unknown: nothing */
    }
    if (s->ppe > s->pe) {
        s->dps = s->pps;
        s->dpe = s->ppe;
    }
    else {
        s->dps = s->ps;
        s->dpe = s->pe;
    }
    if (s->dpe <= 0 || s->dps <= 0) {
        return;
    }
    s->eligible = 1;
    s->grants = !is(s->eff, "canceled");
}

/* Is a better than b as the account's current subscription? */
static int better(const sub_t *a, const sub_t *b)
{
    if (a->grants != b->grants) {
        return a->grants > b->grants;
    }
    if (a->link_created != b->link_created) {
        return a->link_created > b->link_created;
    }
    return strcmp(a->id, b->id) > 0;
}

static webot_dbrc_e derive_account(webot_db_t *db, apr_pool_t *p,
                                   const char *account_id,
                                   webot_event_result_t *res)
{
    const char *args[12];
    webot_rows_t *rows, *r2;
    webot_dbrc_e rc;
    sub_t *best = NULL;
    int i, n = 0;

    args[0] = account_id;
    if ((rc = webot_db_select(db, p, &ST_ACCOUNT_LOCK, &rows, 1, args))
        || (rc = webot_db_select(db, p, &ST_ACCOUNT_SUBS, &rows, 1, args))) {
        return rc;
    }
    for (i = 0; i < rows->n; i++) {
        sub_t *s = apr_pcalloc(p, sizeof(*s));
        s->id = WEBOT_ROW(rows, i, 0);
        s->customer = WEBOT_ROW(rows, i, 1);
        s->link_created = num(WEBOT_ROW(rows, i, 2));
        s->status = WEBOT_ROW(rows, i, 3);
        s->plan_id = WEBOT_ROW(rows, i, 4);
        s->ps = num(WEBOT_ROW(rows, i, 5));
        s->pe = num(WEBOT_ROW(rows, i, 6));
        s->sub_created = num(WEBOT_ROW(rows, i, 7));
        s->pps = num(WEBOT_ROW(rows, i, 8));
        s->ppe = num(WEBOT_ROW(rows, i, 9));
        args[0] = args[1] = s->id;
        if ((rc = webot_db_select(db, p, &ST_SUB_PAYINFO, &r2, 2, args))) {
            return rc;
        }
        if (r2->n) {
            s->paid_max = num(WEBOT_ROW(r2, 0, 0));
            s->fail_min = num(WEBOT_ROW(r2, 0, 1));
        }
        derive(s);
        n++;
        if (s->eligible && (!best || better(s, best))) {
            best = s;
        }
    }
    if (!best) {
        if (!res->note) {
            res->note = n ? "the account's subscription is not complete yet "
                            "(status, plan or period unknown)"
                          : "no subscription is linked to the account yet";
        }
        return WEBOT_DB_OK;
    }
    if (!best->grants) {
        /* A canceled Stripe subscription does not end a manual grant. */
        args[0] = account_id;
        if ((rc = webot_db_select(db, p, &ST_ENT_SOURCE, &rows, 1, args))) {
            return rc;
        }
        if (rows->n && is(WEBOT_ROW(rows, 0, 0), "manual")) {
            res->note = "the subscription is canceled; the account's manual "
                        "grant stays";
            return WEBOT_DB_OK;
        }
    }
    args[0] = account_id;
    args[1] = best->plan_id;
    args[2] = best->eff;
    args[3] = ll(p, best->dps);
    args[4] = ll(p, best->dpe);
    args[5] = is(best->eff, "past_due") ? ts_arg(p, best->since) : NULL;
    args[6] = best->customer;
    args[7] = best->id;
    args[8] = best->sub_created ? ll(p, best->sub_created) : NULL;
    args[9] = best->paid_max > 0 ? ll(p, best->paid_max) : NULL;
    rc = webot_db_exec(db, p, &ST_ENT_UPSERT, &n, 10, args);
    if (rc == WEBOT_DB_OK) {
        res->entitlement_changed = n > 0;
    }
    return rc;
}

/* --- one event ------------------------------------------------------------- */

/* Runs a statement returning "account_id" rows: *applied = a row came back,
 * *account = its value. */
static webot_dbrc_e upsert_sub(webot_db_t *db, apr_pool_t *p,
                               const webot_stmt_t *st, int nargs,
                               const char *const *args, int *applied,
                               const char **account)
{
    webot_rows_t *rows;
    webot_dbrc_e rc = webot_db_select(db, p, st, &rows, nargs, args);
    if (rc == WEBOT_DB_OK) {
        *applied = rows->n > 0;
        *account = rows->n ? WEBOT_ROW(rows, 0, 0) : NULL;
    }
    return rc;
}

static webot_dbrc_e apply(webot_db_t *db, apr_pool_t *p,
                          const webot_catalog_t *cat,
                          const webot_stripe_event_t *ev,
                          webot_event_result_t *res)
{
    const char *args[12], *account = NULL;
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int applied = 0;

    switch (ev->kind) {
    case WEBOT_SEV_OTHER:
        res->outcome = "ignored";
        res->note = "an event type that entitlements do not use";
        return WEBOT_DB_OK;

    case WEBOT_SEV_CHECKOUT_COMPLETED:
        if (!is(ev->mode, "subscription") || !ev->subscription_id) {
            res->outcome = "ignored";
            res->note = "a checkout session without a subscription";
            return WEBOT_DB_OK;
        }
        if (!ev->client_reference_id) {
            res->outcome = "ignored";
            res->note = "a checkout session without client_reference_id";
            return WEBOT_DB_OK;
        }
        args[0] = ev->client_reference_id;
        if ((rc = webot_db_select(db, p, &ST_ACCOUNT_EXISTS, &rows, 1,
                                  args))) {
            return rc;
        }
        if (!rows->n) {
            res->outcome = "ignored";
            res->note = "client_reference_id names no account";
            return WEBOT_DB_OK;
        }
        args[0] = ev->subscription_id;
        args[1] = ev->customer_id;
        args[2] = ev->client_reference_id;
        args[3] = ll(p, ev->created);
        if ((rc = upsert_sub(db, p, &ST_SUB_LINK, 4, args, &applied,
                             &account))) {
            return rc;
        }
        if (!applied) {
            args[0] = ev->subscription_id;
            if ((rc = webot_db_select(db, p, &ST_SUB_ACCOUNT, &rows, 1,
                                      args))) {
                return rc;
            }
            account = rows->n ? WEBOT_ROW(rows, 0, 0) : NULL;
            if (is(account, ev->client_reference_id)) {
                res->outcome = "stale";
                res->note = "the subscription is linked to the account "
                            "already";
                res->account_id = account;
            }
            else {
                res->outcome = "ignored";
                res->note = "the subscription is linked to another account";
            }
            return WEBOT_DB_OK;
        }
        account = ev->client_reference_id;
        break;

    case WEBOT_SEV_SUB_CREATED:
    case WEBOT_SEV_SUB_UPDATED:
    case WEBOT_SEV_SUB_DELETED: {
        const char *status = ev->status;
        const webot_plan_t *pl;
        if (ev->kind == WEBOT_SEV_SUB_DELETED && !status) {
            status = "canceled";
        }
        if (!ev->subscription_id || !status) {
            res->outcome = "ignored";
            res->note = "a subscription event without id or status";
            return WEBOT_DB_OK;
        }
        pl = webot_catalog_plan_by_lookup_key(cat, ev->lookup_key);
        args[0] = ev->subscription_id;
        args[1] = ev->customer_id;
        args[2] = status;
        args[3] = pl ? pl->id : NULL;
        args[4] = ev->lookup_key;
        args[5] = ev->price_id;
        args[6] = ts_arg(p, ev->period_start);
        args[7] = ts_arg(p, ev->period_end);
        args[8] = ll(p, ev->created);
        args[9] = ll(p, ev->period_end > 0 ? ev->period_end : 0);
        args[10] = ev->kind == WEBOT_SEV_SUB_CREATED ? "0"
                 : ev->kind == WEBOT_SEV_SUB_UPDATED ? "1" : "2";
        args[11] = apr_itoa(p, status_rank(status));
        if ((rc = upsert_sub(db, p, &ST_SUB_STATE, 12, args, &applied,
                             &account))) {
            return rc;
        }
        if (!applied) {
            res->outcome = "stale";
            res->note = "a newer state of the subscription was applied "
                        "already";
            return WEBOT_DB_OK;
        }
        if (!pl) {
            res->note = "the price's lookup key matches no catalog plan";
        }
        break;
    }

    case WEBOT_SEV_INVOICE_PAID:
    case WEBOT_SEV_INVOICE_FAILED:
        if (!ev->subscription_id) {
            res->outcome = "ignored";
            res->note = "an invoice without a subscription";
            return WEBOT_DB_OK;
        }
        args[0] = ev->subscription_id;
        args[1] = ev->customer_id;
        if (ev->kind == WEBOT_SEV_INVOICE_PAID) {
            args[2] = ts_arg(p, ev->period_start);
            args[3] = ts_arg(p, ev->period_end);
            rc = upsert_sub(db, p, &ST_SUB_PAID, 4, args, &applied,
                            &account);
        }
        else {
            rc = upsert_sub(db, p, &ST_SUB_TOUCH, 2, args, &applied,
                            &account);
        }
        if (rc) {
            return rc;
        }
        break;
    }

    res->outcome = "applied";
    res->account_id = account;
    if (!account) {
        if (!res->note) {
            res->note = "the subscription is not linked to an account yet";
        }
        return WEBOT_DB_OK;
    }
    return derive_account(db, p, account, res);
}

webot_dbrc_e webot_store_stripe_event(webot_db_t *db, apr_pool_t *p,
                                      const webot_catalog_t *cat,
                                      const webot_stripe_event_t *ev,
                                      const char *ignore_reason,
                                      webot_event_result_t *res)
{
    const char *args[5];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    memset(res, 0, sizeof(*res));
    if ((rc = webot_db_begin(db, p))) {
        return rc;
    }
    args[0] = ev->id;
    args[1] = ev->type;
    args[2] = ll(p, ev->created);
    /* the subscription of an event that is applied (the past_due rule
     * reads the invoice events of a subscription) */
    args[3] = ignore_reason ? NULL : ev->subscription_id;
    args[4] = ev->livemode ? "true" : "false";
    if ((rc = webot_db_select(db, p, &ST_EVENT_INSERT, &rows, 5, args))) {
        goto fail;
    }
    if (!rows->n) {
        webot_db_rollback(db, p);
        res->outcome = "duplicate";
        res->note = "the event was received before";
        return WEBOT_DB_OK;
    }
    if (ignore_reason) {
        res->outcome = "ignored";
        res->note = ignore_reason;
    }
    else if ((rc = apply(db, p, cat, ev, res))) {
        goto fail;
    }
    args[0] = res->outcome;
    args[1] = res->account_id;
    args[2] = ev->id;
    if ((rc = webot_db_exec(db, p, &ST_EVENT_DONE, NULL, 3, args))
        || (rc = webot_db_commit(db, p))) {
        goto fail;
    }
    return WEBOT_DB_OK;
fail:
    webot_db_rollback(db, p);
    memset(res, 0, sizeof(*res));
    return rc;
}

/* --- verified prices ------------------------------------------------------ */

webot_dbrc_e webot_store_price_save(webot_db_t *db, apr_pool_t *p,
                                    const webot_price_state_t *st,
                                    int *changed)
{
    const char *args[9];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    args[0] = st->plan_id;
    args[1] = st->lookup_key;
    args[2] = st->key_mode;
    args[3] = st->verified ? "true" : "false";
    args[4] = st->verified ? st->price_id : NULL;
    args[5] = ll(p, st->amount);
    args[6] = st->currency;
    args[7] = st->interval;
    args[8] = st->verified ? NULL : st->problem;
    rc = webot_db_select(db, p, &ST_PRICE_SAVE, &rows, 9, args);
    if (rc == WEBOT_DB_OK && changed) {
        *changed = rows->n && is(WEBOT_ROW(rows, 0, 0), "1");
    }
    return rc;
}

webot_dbrc_e webot_store_prices_load(webot_db_t *db, apr_pool_t *p,
                                     apr_hash_t **out)
{
    webot_rows_t *rows;
    webot_dbrc_e rc = webot_db_select(db, p, &ST_PRICES_LOAD, &rows, 0,
                                      NULL);
    apr_hash_t *h;
    int i;

    if (rc) {
        return rc;
    }
    h = apr_hash_make(p);
    for (i = 0; i < rows->n; i++) {
        webot_price_state_t *st = apr_pcalloc(p, sizeof(*st));
        st->plan_id = WEBOT_ROW(rows, i, 0);
        st->lookup_key = WEBOT_ROW(rows, i, 1);
        st->key_mode = WEBOT_ROW(rows, i, 2);
        st->verified = is(WEBOT_ROW(rows, i, 3), "1");
        st->price_id = WEBOT_ROW(rows, i, 4);
        st->amount = num(WEBOT_ROW(rows, i, 5));
        st->currency = WEBOT_ROW(rows, i, 6);
        st->interval = WEBOT_ROW(rows, i, 7);
        st->problem = WEBOT_ROW(rows, i, 8);
        apr_hash_set(h, st->plan_id, APR_HASH_KEY_STRING, st);
    }
    *out = h;
    return WEBOT_DB_OK;
}

int webot_price_state_valid(const webot_price_state_t *st,
                            const webot_plan_t *plan, const char *key_mode)
{
    return st && plan && key_mode && st->verified && st->price_id
        && *st->price_id && is(st->key_mode, key_mode)
        && is(st->lookup_key, plan->stripe_lookup_key)
        && st->amount == plan->price_amount
        && is(st->currency, plan->currency)
        && is(st->interval, plan->interval);
}

/* --- checkout ----------------------------------------------------------------- */

webot_dbrc_e webot_store_stripe_customer(webot_db_t *db, apr_pool_t *p,
                                         const char *account_id,
                                         const char **customer_id)
{
    const char *args[2];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    args[0] = args[1] = account_id;
    rc = webot_db_select(db, p, &ST_CUSTOMER, &rows, 2, args);
    if (rc == WEBOT_DB_OK) {
        *customer_id = rows->n ? WEBOT_ROW(rows, 0, 0) : NULL;
    }
    return rc;
}
