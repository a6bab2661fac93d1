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
