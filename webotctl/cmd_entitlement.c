/* cmd_entitlement.c: webotctl entitlement grant --account ID --plan PLAN
 *   [--days N] [--monthly-jobs N] [--max-active-jobs N]
 *   [--rate-limit-per-minute N]
 * Upserts the account's single entitlements row as an active manual grant
 * for one month from now; Stripe ids and high-water marks are kept. */
#include "webotctl.h"
#include "webot_util.h"
#include "webot_catalog.h"

#include <apr_strings.h>
#include <string.h>

#define DAYS_MAX       3650
#define OVERRIDE_MAX   10000000

static const char grant_sql[] =
    "INSERT INTO entitlements AS e (account_id, plan_id, status, source,"
    "  period_start, period_end, expires_at, past_due_since, monthly_jobs,"
    "  max_active_jobs, rate_limit_per_minute, updated_at) "
    "VALUES ($1, $2, 'active', 'manual', now(), now() + interval '1 month',"
    "  now() + make_interval(days => $3::int), NULL, $4::int, $5::int,"
    "  $6::int, now()) "
    "ON CONFLICT (account_id) DO UPDATE SET plan_id = EXCLUDED.plan_id,"
    "  status = 'active', source = 'manual',"
    "  period_start = EXCLUDED.period_start,"
    "  period_end = EXCLUDED.period_end, expires_at = EXCLUDED.expires_at,"
    "  past_due_since = NULL, monthly_jobs = EXCLUDED.monthly_jobs,"
    "  max_active_jobs = EXCLUDED.max_active_jobs,"
    "  rate_limit_per_minute = EXCLUDED.rate_limit_per_minute,"
    "  updated_at = now() "
    "RETURNING e.plan_id, e.status, e.source,"
    "  to_char(e.period_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    "  to_char(e.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

/* Checks PLAN against the catalog; prints the valid ids when unknown. */
static int check_plan(wctl_t *c, const char *plan)
{
    webot_catalog_t *cat;
    const char *err = webot_catalog_load(c->pool, wctl_catalog_path(c), &cat);
    const char *list = "";
    int i;

    if (err) {
        wctl_err("catalog: %s", err);
        return WCTL_ERR;
    }
    if (webot_catalog_plan(cat, plan)) {
        return WCTL_OK;
    }
    for (i = 0; i < cat->plans->nelts; i++) {
        const webot_plan_t *pl = APR_ARRAY_IDX(cat->plans, i, webot_plan_t *);
        list = apr_pstrcat(c->pool, list, i ? ", " : "", pl->id, NULL);
    }
    wctl_err("unknown plan '%s' (plans in %s: %s)", plan, cat->path, list);
    return WCTL_ERR;
}

/* A range-checked integer flag, or NULL when not given. */
static int int_flag(const wctl_opt_t *opts, const char *name, long long min,
                    long long max, const char **out)
{
    long long v;
    *out = wctl_opt(opts, name);
    if (*out && webot_parse_int(*out, min, max, &v) != 0) {
        wctl_err("%s must be an integer from %lld to %lld", name, min, max);
        return WCTL_ERR;
    }
    return WCTL_OK;
}

static int grant(wctl_t *c, const char *const params[6])
{
    int ok, rv = WCTL_ERR;
    PGresult *res = wctl_q(c, grant_sql, 6, params, &ok);

    if (!ok) {
        if (strcmp(wctl_sqlstate(res), "23503") == 0) {
            wctl_err("unknown account %s", params[0]);
        }
        else {
            wctl_db_error(res, "granting the entitlement");
        }
    }
    else if (c->json) {
        rv = wctl_print_json(json_pack("{s:s,s:s,s:s,s:s}",
            "account_id", params[0], "plan", PQgetvalue(res, 0, 0),
            "status", PQgetvalue(res, 0, 1), "source", PQgetvalue(res, 0, 2)));
    }
    else {
        printf("%s: plan %s, %s, source %s, period ends %s%s%s\n", params[0],
               PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
               PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
               PQgetisnull(res, 0, 4) ? "" : ", expires ",
               PQgetvalue(res, 0, 4));
        rv = WCTL_OK;
    }
    PQclear(res);
    return rv;
}

int wctl_cmd_entitlement(wctl_t *c, int argc, char **argv)
{
    wctl_opt_t opts[] = { { "--account", 1, NULL }, { "--plan", 1, NULL },
                          { "--days", 1, NULL }, { "--monthly-jobs", 1, NULL },
                          { "--max-active-jobs", 1, NULL },
                          { "--rate-limit-per-minute", 1, NULL },
                          { NULL, 0, NULL } };
    const char *pos[1], *p[6];
    int npos, rv;

    if ((rv = wctl_subcommand("entitlement", argc, argv, "grant")) != 0
        || (rv = wctl_parse(c, argc - 1, argv + 1, opts, pos, 0, &npos))) {
        return rv;
    }
    p[0] = wctl_opt(opts, "--account");
    p[1] = wctl_opt(opts, "--plan");
    if (!p[0] || !p[1]) {
        return wctl_missing("entitlement grant",
                            !p[0] ? "--account ID" : "--plan PLAN");
    }
    if (int_flag(opts, "--days", 1, DAYS_MAX, &p[2])
        || int_flag(opts, "--monthly-jobs", 0, OVERRIDE_MAX, &p[3])
        || int_flag(opts, "--max-active-jobs", 0, OVERRIDE_MAX, &p[4])
        || int_flag(opts, "--rate-limit-per-minute", 0, OVERRIDE_MAX, &p[5])
        || check_plan(c, p[1]) != WCTL_OK
        || wctl_db_connect(c) != WCTL_OK
        || wctl_account_exists(c, p[0]) != 1) {
        return WCTL_ERR;
    }
    return grant(c, p);
}
