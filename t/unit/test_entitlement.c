/* test_entitlement.c: C unit tests of webot_entitlement (scopes, the quota
 * period rule, what an entitlement allows now). Prints TAP and exits
 * non-zero when a test fails. Needs conf/catalog.json (run from the
 * repository top, or set WEBOT_TOP). */
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webot_util.h"
#include "webot_route.h"
#include "webot_catalog.h"
#include "webot_entitlement.h"

#include "tap.h"

static apr_pool_t *P;

static apr_time_t T(const char *s)
{
    apr_time_t t = 0;
    if (webot_time_parse(s, &t)) {
        printf("# bad time %s\n", s);
        exit(2);
    }
    return t;
}

static const char *R(apr_time_t t)
{
    return webot_time_rfc3339(P, t, 1);
}

static void period_is(const char *source, const char *anchor, const char *at,
                      const char *want_start, const char *want_end)
{
    apr_time_t s, e;
    webot_quota_period(source, T(anchor), T("2030-01-01T00:00:00Z"), T(at),
                       &s, &e);
    if (!ok(s == T(want_start) && e == T(want_end),
            "period %s anchor %s at %s = [%s, %s)", source, anchor, at,
            want_start, want_end)) {
        printf("#   got [%s, %s)\n", R(s), R(e));
    }
}

static void test_scopes(void)
{
    const char *bad = NULL;
    json_t *j;
    char *txt;

    ok(webot_scopes_parse(P, "account:read,jobs:read,jobs:write,files:write",
                          &bad) == WEBOT_SCOPE_ALL, "all four scopes");
    ok(webot_scopes_parse(P, "jobs:write,account:read", &bad)
       == (WEBOT_SCOPE_JOBS_WRITE | WEBOT_SCOPE_ACCOUNT_READ),
       "two scopes in any order");
    bad = NULL;
    ok(webot_scopes_parse(P, "jobs:read,admin", &bad) == 0 && bad
       && !strcmp(bad, "admin"), "unknown scope refused and named");
    bad = NULL;
    ok(webot_scopes_parse(P, "", &bad) == 0 && bad, "empty list refused");
    ok(webot_scopes_parse(P, "jobs:read,", &bad) == 0, "trailing comma refused");
    ok(webot_scope_bit("files:write") == WEBOT_SCOPE_FILES_WRITE, "scope bit");
    ok(webot_scope_bit("FILES:WRITE") == 0, "scopes are case-sensitive");
    ok(!strcmp(webot_scopes_csv(P, WEBOT_SCOPE_FILES_WRITE
                                   | WEBOT_SCOPE_ACCOUNT_READ),
               "account:read,files:write"), "csv in canonical order");
    j = webot_scopes_json(WEBOT_SCOPE_JOBS_READ | WEBOT_SCOPE_JOBS_WRITE);
    txt = json_dumps(j, JSON_COMPACT);
    ok(!strcmp(txt, "[\"jobs:read\",\"jobs:write\"]"), "json list");
    free(txt);
    json_decref(j);
}

static void test_months(void)
{
    ok(webot_add_months(T("2026-01-31T10:00:00Z"), 1)
       == T("2026-02-28T10:00:00Z"), "Jan 31 + 1 month = Feb 28");
    ok(webot_add_months(T("2024-01-31T10:00:00Z"), 1)
       == T("2024-02-29T10:00:00Z"), "leap year: Feb 29");
    ok(webot_add_months(T("2026-01-31T10:00:00Z"), 2)
       == T("2026-03-31T10:00:00Z"), "counted from the anchor: Mar 31");
    ok(webot_add_months(T("2025-11-15T23:30:00.123456Z"), 14)
       == T("2027-01-15T23:30:00.123456Z"), "across years, microseconds kept");
    ok(webot_add_months(T("2026-03-31T00:00:00Z"), -1)
       == T("2026-02-28T00:00:00Z"), "minus a month");
    ok(webot_add_months(T("2026-01-15T00:00:00Z"), -13)
       == T("2024-12-15T00:00:00Z"), "minus 13 months");
}

static void test_periods(void)
{
    /* the same cases as the SQL function's (t/20_auth.t compares both) */
    period_is("manual", "2026-01-31T10:00:00Z", "2026-03-15T00:00:00Z",
              "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z");
    period_is("manual", "2026-01-31T10:00:00Z", "2026-03-31T09:59:59Z",
              "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z");
    period_is("manual", "2026-01-31T10:00:00Z", "2026-03-31T10:00:00Z",
              "2026-03-31T10:00:00Z", "2026-04-30T10:00:00Z");
    period_is("manual", "2026-01-31T10:00:00Z", "2026-01-31T10:00:00Z",
              "2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z");
    period_is("manual", "2026-01-31T10:00:00Z", "2025-01-31T10:00:00Z",
              "2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z");
    period_is("manual", "2025-11-15T23:30:00Z", "2027-01-15T23:29:59.999999Z",
              "2026-12-15T23:30:00Z", "2027-01-15T23:30:00Z");
    period_is("manual", "2024-02-29T12:00:00Z", "2025-02-28T12:00:00Z",
              "2025-02-28T12:00:00Z", "2025-03-29T12:00:00Z");
    period_is("stripe", "2025-11-15T23:30:00Z", "2027-01-15T23:29:00Z",
              "2025-11-15T23:30:00Z", "2030-01-01T00:00:00Z");
    period_is(NULL, "2026-05-01T00:00:00Z", "2026-05-20T00:00:00Z",
              "2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z");
}

static webot_ent_t ent(const char *plan, const char *status)
{
    webot_ent_t e;
    memset(&e, 0, sizeof(e));
    e.present = 1;
    e.plan_id = plan;
    e.status = status;
    e.source = "manual";
    e.ovr_monthly_jobs = e.ovr_max_active_jobs = e.ovr_rate_limit = -1;
    e.now = T("2026-06-01T00:00:00Z");
    e.updated_at = T("2026-05-01T00:00:00Z");
    return e;
}

static void test_eval(const webot_catalog_t *cat)
{
    webot_ent_view_t v;
    webot_ent_t e;
    const webot_plan_t *both = NULL, *human = NULL;
    apr_interval_time_t grace = apr_time_from_sec(3 * 86400);
    int i;

    for (i = 0; i < cat->plans->nelts; i++) {
        const webot_plan_t *pl = APR_ARRAY_IDX(cat->plans, i, webot_plan_t *);
        if (pl->access == (WEBOT_ACCESS_API | WEBOT_ACCESS_DASHBOARD)) {
            both = pl;
        }
        if (pl->access == WEBOT_ACCESS_DASHBOARD) {
            human = pl;
        }
    }
    if (!ok(both && human, "catalog has a Both and a Human plan")) {
        return;
    }

    webot_entitlement_eval(P, cat, NULL, grace, &v);
    ok(!v.usable && !v.access && !strcmp(v.status, "none") && !v.plan
       && v.rate_limit_per_minute == WEBOT_DEFAULT_RATE_LIMIT && v.why,
       "no entitlement: none, nothing usable, default rate limit, a reason");

    e = ent(both->id, "active");
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(v.usable && v.access == both->access && v.plan == both
       && v.monthly_jobs == both->monthly_jobs
       && v.rate_limit_per_minute == both->rate_limit_per_minute && !v.why,
       "active Both: usable, the plan's access and limits");

    e = ent(both->id, "trialing");
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(v.usable, "trialing is usable");

    e = ent(human->id, "active");
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(v.usable && v.access == WEBOT_ACCESS_DASHBOARD,
       "Human: dashboard only");

    e = ent(both->id, "active");
    e.ovr_monthly_jobs = 3;
    e.ovr_max_active_jobs = 0;
    e.ovr_rate_limit = 1000;
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(v.monthly_jobs == 3 && v.max_active_jobs == 0
       && v.rate_limit_per_minute == 1000
       && v.max_revisions == both->max_revisions,
       "overrides replace the plan's limits (0 included), others kept");

    e = ent(both->id, "canceled");
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(!v.usable && !v.access && !strcmp(v.status, "canceled") && v.why
       && v.plan == both, "canceled: nothing usable, plan still named");

    e = ent(both->id, "active");
    e.expires_at = e.now;
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(!v.usable && !strcmp(v.status, "canceled"),
       "manual grant at its expiry: shown as canceled");
    e.expires_at = e.now + 1;
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(v.usable, "one microsecond before the expiry: usable");

    e = ent(both->id, "past_due");
    e.past_due_since = e.now - grace + 1;
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(v.usable && !strcmp(v.status, "past_due"), "past_due within grace");
    e.past_due_since = e.now - grace;
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(!v.usable && v.why, "past_due at the end of the grace: not usable");
    e.past_due_since = 0;
    e.updated_at = e.now - apr_time_from_sec(60);
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(v.usable, "past_due without a date: grace counted from updated_at");

    /* a Stripe period that ended with no renewal heard of */
    e = ent(both->id, "active");
    e.source = "stripe";
    e.period_start = T("2026-04-20T00:00:00Z");
    e.period_end = e.now - grace + 1;
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(v.usable && !strcmp(v.status, "active"),
       "stripe: period ended less than the grace ago: still usable");
    e.period_end = e.now - grace;
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(!v.usable && !v.access && !strcmp(v.status, "past_due") && v.why
       && strstr(v.why, "renewal"),
       "stripe: no renewal within the grace after the period: past_due, "
       "not usable");
    e.status = "trialing";
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(!v.usable, "stripe: the same for a trial that was never converted");
    e.status = "canceled";
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(!v.usable && !strcmp(v.status, "canceled"),
       "stripe: canceled stays canceled");
    e.status = "active";
    e.period_end = 0;
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(v.usable, "stripe without a known period end: not judged by it");
    e.source = "manual";
    e.period_end = e.now - grace - apr_time_from_sec(86400);
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(v.usable, "manual grants: their periods roll on, no renewal needed");

    e = ent("retired_plan", "active");
    e.ovr_rate_limit = 7;
    webot_entitlement_eval(P, cat, &e, grace, &v);
    ok(!v.usable && !v.plan && v.why && strstr(v.why, "retired_plan")
       && v.rate_limit_per_minute == 7,
       "unknown plan: not usable, named in the reason, override kept");
}

int main(void)
{
    webot_catalog_t *cat = NULL;
    const char *top = getenv("WEBOT_TOP");
    const char *err;

    apr_initialize();
    apr_pool_create(&P, NULL);
    test_scopes();
    test_months();
    test_periods();
    err = webot_catalog_load(P, apr_pstrcat(P, top ? top : ".",
                                            "/conf/catalog.json", NULL),
                             &cat);
    if (ok(!err, "catalog loads%s%s", err ? ": " : "", err ? err : "")) {
        test_eval(cat);
    }
    printf("1..%d\n", ntests);
    apr_pool_destroy(P);
    apr_terminate();
    return nfailed ? 1 : 0;
}
