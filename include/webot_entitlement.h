/* webot_entitlement.h: the access model in plain values: key scopes, an
 * account's entitlement as stored, and what it allows now (usable access
 * paths, effective limits with the per-account overrides applied). Core:
 * no httpd, no SQL; the store (webot_store_auth.h) fills webot_ent_t.
 *
 * The quota period (one rule, two implementations that the tests hold
 * equal: webot_quota_period() here, used by the access gate, and the SQL
 * functions webot_quota_period_start() / _end() of sql/002_identity.sql for
 * statements that need it inside the database):
 *   - Stripe entitlements: the stored current period (from webhooks);
 *   - manual grants: monthly periods anchored at entitlements.period_start,
 *     the one containing now: [anchor + k months, anchor + (k+1) months) in
 *     UTC, with PostgreSQL's month arithmetic (the day is clamped to the
 *     month's last day: Jan 31 + 1 month = Feb 28/29), always counted from
 *     the anchor so that short months never shift later periods.
 * quota_periods rows are keyed by (account_id, that period_start).
 */
#ifndef WEBOT_ENTITLEMENT_H
#define WEBOT_ENTITLEMENT_H

#include <apr_pools.h>
#include <apr_time.h>
#include <jansson.h>

#include "webot_catalog.h"

/* Requests per minute for a caller whose account has no usable plan (the
 * account-context routes still answer it). */
#define WEBOT_DEFAULT_RATE_LIMIT   60
/* How long past_due keeps access unless configured otherwise. */
#define WEBOT_DEFAULT_PAST_DUE_GRACE apr_time_from_sec(3 * 24 * 3600)

/* The entitlements row of an account (plus the current quota period and its
 * usage) as the gate's query returns it. Times are 0 when NULL. */
typedef struct webot_ent_t {
    int present;                    /* a row exists */
    const char *plan_id;
    const char *status;             /* active|trialing|past_due|canceled */
    const char *source;             /* stripe | manual */
    apr_time_t expires_at;          /* manual grants with --days */
    apr_time_t past_due_since;
    apr_time_t updated_at;
    apr_time_t period_start;        /* current quota period */
    apr_time_t period_end;
    int ovr_monthly_jobs;           /* overrides, -1 = the plan's value */
    int ovr_max_active_jobs;
    int ovr_rate_limit;
    int quota_used;                 /* quota_periods.used of that period */
    apr_time_t now;                 /* the database's now() */
} webot_ent_t;

/* t + months in UTC, PostgreSQL's way (day clamped to the month's end). */
apr_time_t webot_add_months(apr_time_t t, int months);
/* The quota period containing `at` (rule above); source "stripe" gives
 * [anchor, stored_end). */
void webot_quota_period(const char *source, apr_time_t anchor,
                        apr_time_t stored_end, apr_time_t at,
                        apr_time_t *start, apr_time_t *end);

/* What the entitlement means now. */
typedef struct webot_ent_view_t {
    const char *status;             /* as shown to clients: active, trialing,
                                     * past_due, canceled, none (an expired
                                     * manual grant shows as canceled) */
    const webot_plan_t *plan;       /* NULL: none, or no longer offered */
    int usable;                     /* grants anything now */
    unsigned access;                /* WEBOT_ACCESS_* usable now */
    unsigned plan_access;           /* what the plan includes */
    int monthly_jobs;               /* effective limits; 0 without a plan */
    int max_active_jobs;
    int max_revisions;
    int rate_limit_per_minute;      /* WEBOT_DEFAULT_RATE_LIMIT w/o plan */
    long long max_upload_bytes;
    const char *why;                /* not usable: a sentence for clients */
} webot_ent_view_t;

/* Evaluates e against the catalog at e->now. Usable: status active or
 * trialing, or past_due for at most past_due_grace since past_due_since;
 * not past expires_at; for a Stripe entitlement, not past_due_grace or
 * more after the end of its period (no renewal seen: shown as past_due);
 * the plan still in the catalog. */
void webot_entitlement_eval(apr_pool_t *p, const webot_catalog_t *cat,
                            const webot_ent_t *e,
                            apr_interval_time_t past_due_grace,
                            webot_ent_view_t *out);

/* --- scopes ------------------------------------------------------------- */

/* "account:read,jobs:read" → WEBOT_SCOPE_* bits (webot_route.h). Returns 0
 * and sets *bad (pool string) on an unknown or empty item. */
unsigned webot_scopes_parse(apr_pool_t *p, const char *csv, const char **bad);
/* A scope name → bit, 0 if unknown. */
unsigned webot_scope_bit(const char *name);
/* Names in canonical order, as a JSON array (new reference) or CSV. */
json_t *webot_scopes_json(unsigned scopes);
const char *webot_scopes_csv(apr_pool_t *p, unsigned scopes);

#endif
