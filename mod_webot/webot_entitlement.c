/* webot_entitlement.c: scopes, entitlement usability and effective limits. */
#include "webot_entitlement.h"
#include "webot_route.h"

#include <apr_strings.h>
#include <string.h>

static const struct {
    unsigned bit;
    const char *name;
} scope_names[] = {
    { WEBOT_SCOPE_ACCOUNT_READ, "account:read" },
    { WEBOT_SCOPE_JOBS_READ, "jobs:read" },
    { WEBOT_SCOPE_JOBS_WRITE, "jobs:write" },
    { WEBOT_SCOPE_FILES_WRITE, "files:write" },
};
#define NSCOPES (sizeof(scope_names) / sizeof(scope_names[0]))

unsigned webot_scope_bit(const char *name)
{
    apr_size_t i;
    for (i = 0; i < NSCOPES; i++) {
        if (!strcmp(scope_names[i].name, name)) {
            return scope_names[i].bit;
        }
    }
    return 0;
}

unsigned webot_scopes_parse(apr_pool_t *p, const char *csv, const char **bad)
{
    unsigned out = 0;
    const char *s = csv ? csv : "";

    for (;;) {
        apr_size_t len = strcspn(s, ",");
        char *one = apr_pstrmemdup(p, s, len);
        unsigned bit = webot_scope_bit(one);
        if (!bit) {
            *bad = one;
            return 0;
        }
        out |= bit;
        if (!s[len]) {
            return out;
        }
        s += len + 1;
    }
}

json_t *webot_scopes_json(unsigned scopes)
{
    json_t *a = json_array();
    apr_size_t i;
    for (i = 0; i < NSCOPES; i++) {
        if (scopes & scope_names[i].bit) {
            json_array_append_new(a, json_string(scope_names[i].name));
        }
    }
    return a;
}

const char *webot_scopes_csv(apr_pool_t *p, unsigned scopes)
{
    const char *out = "";
    apr_size_t i;
    for (i = 0; i < NSCOPES; i++) {
        if (scopes & scope_names[i].bit) {
            out = *out ? apr_pstrcat(p, out, ",", scope_names[i].name, NULL)
                       : scope_names[i].name;
        }
    }
    return out;
}

static int days_in_month(int year, int mon0)
{
    static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return mon0 == 1 && leap ? 29 : d[mon0];
}

apr_time_t webot_add_months(apr_time_t t, int months)
{
    apr_time_exp_t x;
    apr_time_t out;
    int m, y, usec;

    apr_time_exp_gmt(&x, t);
    usec = x.tm_usec;
    m = x.tm_mon + months;
    y = x.tm_year + 1900 + (m >= 0 ? m / 12 : -((11 - m) / 12));
    m = ((m % 12) + 12) % 12;
    x.tm_year = y - 1900;
    x.tm_mon = m;
    if (x.tm_mday > days_in_month(y, m)) {
        x.tm_mday = days_in_month(y, m);
    }
    x.tm_usec = 0;
    x.tm_gmtoff = 0;
    x.tm_isdst = 0;
    if (apr_time_exp_gmt_get(&out, &x) != APR_SUCCESS) {
        return t;
    }
    return out + usec;
}

void webot_quota_period(const char *source, apr_time_t anchor,
                        apr_time_t stored_end, apr_time_t at,
                        apr_time_t *start, apr_time_t *end)
{
    apr_time_exp_t a, n;
    int k;

    if (source && !strcmp(source, "stripe")) {
        *start = anchor;
        *end = stored_end;
        return;
    }
    k = 0;
    if (at >= anchor) {
        apr_time_exp_gmt(&a, anchor);
        apr_time_exp_gmt(&n, at);
        k = (n.tm_year - a.tm_year) * 12 + (n.tm_mon - a.tm_mon);
        if (webot_add_months(anchor, k) > at) {
            k--;
        }
    }
    *start = webot_add_months(anchor, k);
    *end = webot_add_months(anchor, k + 1);
}

static int pick(int override, int plan_value)
{
    return override >= 0 ? override : plan_value;
}

void webot_entitlement_eval(apr_pool_t *p, const webot_catalog_t *cat,
                            const webot_ent_t *e,
                            apr_interval_time_t past_due_grace,
                            webot_ent_view_t *out)
{
    const webot_plan_t *pl;

    memset(out, 0, sizeof(*out));
    out->rate_limit_per_minute = WEBOT_DEFAULT_RATE_LIMIT;
    if (!e || !e->present || !e->status) {
        out->status = "none";
        out->why = "The account has no entitlement.";
        return;
    }
    out->status = e->status;
    pl = e->plan_id && cat ? webot_catalog_plan(cat, e->plan_id) : NULL;
    out->plan = pl;
    if (pl) {
        out->plan_access = pl->access;
        out->monthly_jobs = pick(e->ovr_monthly_jobs, pl->monthly_jobs);
        out->max_active_jobs = pick(e->ovr_max_active_jobs,
                                    pl->max_active_jobs);
        out->max_revisions = pl->max_revisions;
        out->rate_limit_per_minute = pick(e->ovr_rate_limit,
                                          pl->rate_limit_per_minute);
        out->max_upload_bytes = pl->max_upload_bytes;
    }
    else {
        /* overrides still bound a caller without a plan */
        if (e->ovr_rate_limit >= 0) {
            out->rate_limit_per_minute = e->ovr_rate_limit;
        }
        out->why = apr_psprintf(p, "The account's plan %s is no longer "
                                "offered.", e->plan_id ? e->plan_id : "");
        return;
    }
    if (e->expires_at && e->expires_at <= e->now) {
        out->status = "canceled";
        out->why = "The account's entitlement has expired.";
        return;
    }
    /* A Stripe subscription lives on through its webhooks: each renewal
     * moves the period. A period that ended longer than the grace ago with
     * no renewal heard of (the endpoint unreachable, events lost, the
     * subscription gone without its deletion event) stops access instead
     * of granting it forever; the next invoice.paid or subscription update
     * moves the period and restores it. */
    if (e->source && !strcmp(e->source, "stripe") && e->period_end
        && strcmp(e->status, "canceled")
        && e->now >= e->period_end + past_due_grace) {
        out->status = "past_due";
        out->why = "The account's billing period has ended and no renewal "
                   "has been received from Stripe since.";
        return;
    }
    if (!strcmp(e->status, "active") || !strcmp(e->status, "trialing")) {
        out->usable = 1;
    }
    else if (!strcmp(e->status, "past_due")) {
        apr_time_t since = e->past_due_since ? e->past_due_since
                                             : e->updated_at;
        if (e->now < since + past_due_grace) {
            out->usable = 1;
        }
        else {
            out->why = "The account's payment is past due and its grace "
                       "period has ended.";
        }
    }
    else {
        out->why = "The account's subscription is canceled.";
    }
    if (out->usable) {
        out->access = pl->access;
    }
}
