/* test_stripe_sig.c: Stripe-Signature verification, webhook secret files,
 * key modes, event reduction, price checks and form encoding (core:
 * webot_stripe_sig.c, webot_stripe_obj.c). The two reference headers were
 * made by the official stripe npm package
 * (stripe.webhooks.generateTestHeaderString, t/node). Prints TAP and exits
 * non-zero on failure. */
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "webot_stripe.h"
#include "webot_util.h"

#include "tap.h"

static apr_pool_t *P;

static int is_str(const char *got, const char *want, const char *name)
{
    int r = ok(got && want ? !strcmp(got, want) : got == want, "%s", name);
    if (!r) {
        printf("#   got:  %s\n#   want: %s\n", got ? got : "(null)",
               want ? want : "(null)");
    }
    return r;
}

/* --- signatures ------------------------------------------------------ */

static const char *P1 = "{\"id\":\"evt_1\"}";
static const char *S1 = "whsec_test_secret_0123456789abcdef";
static const apr_int64_t T1 = 1700000000;
static const char *V1 =
    "900e419229bdedbac3b3352e7feabcd1180d850a9e49229725c8cf20c6a10d09";

static const char *P2 = "{\n  \"id\": \"evt_2\",\n  \"object\": \"event\",\n"
    "  \"data\": {\"object\": {\"name\": \"Zo\xC3\xAB \xE2\x9C\x93\"}}\n}";
static const char *S2 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const apr_int64_t T2 = 1712345678;
static const char *V2 =
    "9bf516738ccb76f80f2325ed4f6fd0e8215df96a715b2cb87bdaaa0313b5d48f";

static webot_stripe_sig_e verify(const char *hdr, const char *payload,
                                 const char *const *secrets, long long now,
                                 long long tol)
{
    webot_stripe_secret_t s[4];
    int n = 0;
    for (; secrets && secrets[n]; n++) {
        s[n].key = (const unsigned char *)secrets[n];
        s[n].len = strlen(secrets[n]);
    }
    return webot_stripe_sig_verify(hdr, payload, strlen(payload), s, n, now,
                                   tol, NULL);
}

static void test_signatures(void)
{
    const char *one[] = { S1, NULL };
    const char *two[] = { "whsec_old_secret_aaaaaaaaaaaaaaaa", S1, NULL };
    const char *wrong[] = { "whsec_wrong_secret_bbbbbbbbbbbbbb", NULL };
    const char *both[] = { S1, S2, NULL };
    const char *h1 = apr_psprintf(P, "t=%" APR_INT64_T_FMT ",v1=%s", T1, V1);
    const char *h2 = apr_psprintf(P, "t=%" APR_INT64_T_FMT ",v1=%s", T2, V2);
    char *alt;
    long long t = 0;
    webot_stripe_secret_t sec = { (const unsigned char *)S1, 0 };

    sec.len = strlen(S1);
    ok(verify(h1, P1, one, T1, 300) == WEBOT_STRIPE_SIG_OK,
       "stripe-node vector 1 verifies");
    ok(verify(h2, P2, both, T2 + 10, 300) == WEBOT_STRIPE_SIG_OK,
       "stripe-node vector 2 (UTF-8, newlines) verifies, second secret");
    is_str(webot_stripe_sig_header(P, S1, strlen(S1), T1, P1, strlen(P1)),
           h1, "our header equals stripe-node's");
    ok(webot_stripe_sig_verify(h1, P1, strlen(P1), &sec, 1, T1, 300, &t)
       == WEBOT_STRIPE_SIG_OK && t == T1, "t_out is the header's t");

    ok(verify(NULL, P1, one, T1, 300) == WEBOT_STRIPE_SIG_MISSING,
       "missing header");
    ok(verify(h1, P1, NULL, T1, 300) == WEBOT_STRIPE_SIG_NO_SECRET,
       "no secret configured");
    ok(verify("", P1, one, T1, 300) == WEBOT_STRIPE_SIG_MALFORMED,
       "empty header is malformed");
    ok(verify("garbage", P1, one, T1, 300) == WEBOT_STRIPE_SIG_MALFORMED,
       "garbage header is malformed");
    ok(verify(apr_psprintf(P, "v1=%s", V1), P1, one, T1, 300)
       == WEBOT_STRIPE_SIG_MALFORMED, "no t= is malformed");
    ok(verify(apr_psprintf(P, "t=abc,v1=%s", V1), P1, one, T1, 300)
       == WEBOT_STRIPE_SIG_MALFORMED, "non-numeric t is malformed");
    ok(verify(apr_psprintf(P, "t=-5,v1=%s", V1), P1, one, T1, 300)
       == WEBOT_STRIPE_SIG_MALFORMED, "negative t is malformed");
    ok(verify(apr_psprintf(P, "t=%" APR_INT64_T_FMT ",t=%" APR_INT64_T_FMT ",v1=%s", T1, T1, V1), P1, one,
              T1, 300) == WEBOT_STRIPE_SIG_MALFORMED,
       "two t= are malformed");
    ok(verify(apr_psprintf(P, "t=%" APR_INT64_T_FMT, T1), P1, one, T1, 300)
       == WEBOT_STRIPE_SIG_NO_V1, "t= without v1");
    ok(verify(apr_psprintf(P, "t=%" APR_INT64_T_FMT ",v0=%s", T1, V1), P1, one, T1, 300)
       == WEBOT_STRIPE_SIG_NO_V1, "only a v0 scheme: no v1");
    ok(verify(apr_psprintf(P, "t=%" APR_INT64_T_FMT ",v1=%.63s", T1, V1), P1, one, T1, 300)
       == WEBOT_STRIPE_SIG_NO_V1, "short v1 is not a signature");
    ok(verify(apr_psprintf(P, "t=%" APR_INT64_T_FMT ",v1=%.62szz", T1, V1), P1, one, T1,
              300) == WEBOT_STRIPE_SIG_NO_V1, "non-hex v1 is not a signature");

    ok(verify(h1, P1, wrong, T1, 300) == WEBOT_STRIPE_SIG_MISMATCH,
       "wrong secret");
    ok(verify(h1, P1, two, T1, 300) == WEBOT_STRIPE_SIG_OK,
       "rotation: the second configured secret matches");
    ok(verify(h1, "{\"id\":\"evt_2\"}", one, T1, 300)
       == WEBOT_STRIPE_SIG_MISMATCH, "payload altered by one byte");
    ok(verify(h1, "{\"id\":\"evt_1\"} ", one, T1, 300)
       == WEBOT_STRIPE_SIG_MISMATCH, "payload with one byte appended");
    ok(verify(apr_psprintf(P, "t=%" APR_INT64_T_FMT ",v1=%s", T1 + 1, V1), P1, one, T1, 300)
       == WEBOT_STRIPE_SIG_MISMATCH, "timestamp altered (t is signed)");

    /* two v1 values, as Stripe sends while a secret is being rolled */
    alt = apr_psprintf(P, "t=%" APR_INT64_T_FMT ",v1=%s,v1=%s", T1,
        "0000000000000000000000000000000000000000000000000000000000000000",
        V1);
    ok(verify(alt, P1, one, T1, 300) == WEBOT_STRIPE_SIG_OK,
       "two v1 values: the second matches");
    alt = apr_psprintf(P, "t=%" APR_INT64_T_FMT ",v1=%s,v1=%s", T1, V1,
        "0000000000000000000000000000000000000000000000000000000000000000");
    ok(verify(alt, P1, one, T1, 300) == WEBOT_STRIPE_SIG_OK,
       "two v1 values: the first matches");
    alt = apr_psprintf(P, " t=%" APR_INT64_T_FMT " , v0=abc , v1=%s , x=y, ,junk", T1, V1);
    ok(verify(alt, P1, one, T1, 300) == WEBOT_STRIPE_SIG_OK,
       "blanks, other schemes and junk items are ignored");
    alt = apr_psprintf(P, "t=%" APR_INT64_T_FMT ",v1=%s", T1, apr_pstrdup(P, V1));
    {
        char *u = strstr(alt, "v1=") + 3;
        for (; *u; u++) {
            if (*u >= 'a' && *u <= 'f') {
                *u = (char)(*u - 'a' + 'A');
            }
        }
    }
    ok(verify(alt, P1, one, T1, 300) == WEBOT_STRIPE_SIG_OK,
       "upper-case hex is the same signature");

    ok(verify(h1, P1, one, T1 + 300, 300) == WEBOT_STRIPE_SIG_OK,
       "exactly at the tolerance: accepted");
    ok(verify(h1, P1, one, T1 + 301, 300) == WEBOT_STRIPE_SIG_STALE,
       "stale timestamp");
    ok(verify(h1, P1, one, T1 - 300, 300) == WEBOT_STRIPE_SIG_OK,
       "300 s in the future: accepted");
    ok(verify(h1, P1, one, T1 - 301, 300) == WEBOT_STRIPE_SIG_FUTURE,
       "future timestamp beyond the tolerance");
    ok(verify(h1, P1, one, T1 + 10, 5) == WEBOT_STRIPE_SIG_STALE,
       "a smaller tolerance applies");
    ok(verify(apr_psprintf(P, "t=9999999999999999,v1=%s", V1), P1, one, T1,
              300) == WEBOT_STRIPE_SIG_MALFORMED, "absurd t is malformed");
    {
        char *big = apr_palloc(P, WEBOT_STRIPE_SIG_MAX_HEADER + 2);
        memset(big, 'a', WEBOT_STRIPE_SIG_MAX_HEADER + 1);
        big[WEBOT_STRIPE_SIG_MAX_HEADER + 1] = '\0';
        ok(verify(big, P1, one, T1, 300) == WEBOT_STRIPE_SIG_MALFORMED,
           "an over-long header is malformed");
    }
    ok(strstr(webot_stripe_sig_reason(WEBOT_STRIPE_SIG_STALE), "tolerance")
       != NULL, "reasons are sentences");
}

static void test_secret_files(void)
{
    apr_array_header_t *a = apr_array_make(P, 2,
                                           sizeof(webot_stripe_secret_t));
    const char *err;
    err = webot_stripe_parse_secrets(P, "# current and next\n"
        "whsec_aaaaaaaaaaaaaaaaaaaa\r\n\n  whsec_bbbbbbbbbbbbbbbbbbbb  \n",
        16, a);
    ok(!err && a->nelts == 2, "two secrets, comments and blanks skipped");
    is_str(a->nelts > 1 ? (const char *)APR_ARRAY_IDX(a, 1,
               webot_stripe_secret_t).key : NULL,
           "whsec_bbbbbbbbbbbbbbbbbbbb", "secret trimmed");
    a->nelts = 0;
    err = webot_stripe_parse_secrets(P, "whsec_short\n", 16, a);
    ok(err && strstr(err, "line 1") && !strstr(err, "whsec_short"),
       "a short secret is refused without echoing it");
    err = webot_stripe_parse_secrets(P, "whsec_aaaa aaaaaaaaaaaaaaa\n", 16, a);
    ok(err != NULL, "a secret with a blank inside is refused");
    a->nelts = 0;
    err = webot_stripe_parse_secrets(P, "# nothing\n\n", 16, a);
    ok(!err && a->nelts == 0, "comments only: no secret");
}

static void test_key_mode(void)
{
    ok(webot_stripe_key_mode("sk_test_abc") == WEBOT_STRIPE_MODE_TEST,
       "sk_test_ is test");
    ok(webot_stripe_key_mode("rk_test_abc") == WEBOT_STRIPE_MODE_TEST,
       "rk_test_ is test");
    ok(webot_stripe_key_mode("sk_live_abc") == WEBOT_STRIPE_MODE_LIVE,
       "sk_live_ is live");
    ok(webot_stripe_key_mode("pk_live_abc") == WEBOT_STRIPE_MODE_UNKNOWN,
       "a publishable key is not a secret key");
    ok(webot_stripe_key_mode("whatever") == WEBOT_STRIPE_MODE_UNKNOWN,
       "anything else is unknown");
}

/* --- events ------------------------------------------------------------ */

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) {
        printf("# bad test JSON: %s\n", je.text);
    }
    return j;
}

static void test_events(void)
{
    const char *why = NULL;
    webot_stripe_event_t *ev;
    json_t *j;

    j = J("{\"id\":\"evt_a\",\"object\":\"event\",\"type\":"
          "\"checkout.session.completed\",\"created\":1700000100,"
          "\"livemode\":false,\"data\":{\"object\":{\"id\":\"cs_test_1\","
          "\"object\":\"checkout.session\",\"client_reference_id\":"
          "\"acct_x\",\"customer\":\"cus_1\",\"subscription\":\"sub_1\","
          "\"mode\":\"subscription\"}}}");
    ev = webot_stripe_event_parse(P, j, &why);
    ok(ev && ev->kind == WEBOT_SEV_CHECKOUT_COMPLETED && ev->created
       == 1700000100 && !ev->livemode, "checkout.session.completed");
    is_str(ev ? ev->client_reference_id : NULL, "acct_x",
           "client_reference_id");
    is_str(ev ? ev->subscription_id : NULL, "sub_1", "its subscription");
    is_str(ev ? ev->customer_id : NULL, "cus_1", "its customer");
    json_decref(j);

    /* API before 2025-03-31: period on the subscription; customer expanded */
    j = J("{\"id\":\"evt_b\",\"type\":\"customer.subscription.updated\","
          "\"created\":1700000200,\"livemode\":true,\"data\":{\"object\":{"
          "\"id\":\"sub_1\",\"object\":\"subscription\",\"customer\":"
          "{\"id\":\"cus_1\"},\"status\":\"past_due\","
          "\"current_period_start\":1700000000,\"current_period_end\":"
          "1702592000,\"items\":{\"object\":\"list\",\"data\":[{\"id\":"
          "\"si_1\",\"price\":{\"id\":\"price_1\",\"lookup_key\":"
          "\"webot_agent_pro_monthly\"}}]}}}}");
    ev = webot_stripe_event_parse(P, j, &why);
    ok(ev && ev->kind == WEBOT_SEV_SUB_UPDATED && ev->livemode,
       "customer.subscription.updated");
    is_str(ev ? ev->status : NULL, "past_due", "status");
    is_str(ev ? ev->lookup_key : NULL, "webot_agent_pro_monthly",
           "lookup key of the first item's price");
    is_str(ev ? ev->customer_id : NULL, "cus_1", "expanded customer id");
    ok(ev && ev->period_start == 1700000000 && ev->period_end == 1702592000,
       "period from the subscription");
    json_decref(j);

    /* API 2025-03-31 and later: period on the item */
    j = J("{\"id\":\"evt_c\",\"type\":\"customer.subscription.created\","
          "\"created\":1,\"data\":{\"object\":{\"id\":\"sub_2\",\"status\":"
          "\"active\",\"items\":{\"data\":[{\"current_period_start\":10,"
          "\"current_period_end\":20,\"price\":{\"id\":\"price_2\"}}]}}}}");
    ev = webot_stripe_event_parse(P, j, &why);
    ok(ev && ev->period_start == 10 && ev->period_end == 20
       && !ev->lookup_key, "period from the item; no lookup key");
    json_decref(j);

    /* renewal invoice: its own period is the previous one */
    j = J("{\"id\":\"evt_d\",\"type\":\"invoice.paid\",\"created\":5,"
          "\"data\":{\"object\":{\"id\":\"in_1\",\"customer\":\"cus_1\","
          "\"subscription\":\"sub_1\",\"period_start\":100,\"period_end\":"
          "200,\"lines\":{\"data\":[{\"type\":\"invoiceitem\",\"period\":"
          "{\"start\":1,\"end\":2}},{\"type\":\"subscription\",\"period\":"
          "{\"start\":200,\"end\":300}}]}}}}");
    ev = webot_stripe_event_parse(P, j, &why);
    ok(ev && ev->kind == WEBOT_SEV_INVOICE_PAID && ev->period_start == 200
       && ev->period_end == 300, "invoice.paid: the subscription line's "
       "period");
    is_str(ev ? ev->subscription_id : NULL, "sub_1", "invoice subscription");
    json_decref(j);

    /* API 2025-03-31 and later: parent.subscription_details */
    j = J("{\"id\":\"evt_e\",\"type\":\"invoice.payment_failed\","
          "\"created\":6,\"data\":{\"object\":{\"id\":\"in_2\",\"parent\":{"
          "\"type\":\"subscription_details\",\"subscription_details\":{"
          "\"subscription\":\"sub_9\"}},\"period_start\":7,\"period_end\":"
          "8}}}");
    ev = webot_stripe_event_parse(P, j, &why);
    ok(ev && ev->kind == WEBOT_SEV_INVOICE_FAILED && ev->period_end == 8,
       "invoice.payment_failed, invoice period as fallback");
    is_str(ev ? ev->subscription_id : NULL, "sub_9",
           "subscription from parent.subscription_details");
    json_decref(j);

    j = J("{\"id\":\"evt_f\",\"type\":\"customer.created\",\"created\":1,"
          "\"data\":{\"object\":{}}}");
    ev = webot_stripe_event_parse(P, j, &why);
    ok(ev && ev->kind == WEBOT_SEV_OTHER, "unknown type: OTHER");
    json_decref(j);

    j = J("{\"type\":\"invoice.paid\",\"created\":1}");
    ok(!webot_stripe_event_parse(P, j, &why) && why, "no id: not an event");
    json_decref(j);
    j = J("{\"id\":\"evt_g\",\"type\":\"invoice.paid\",\"created\":\"1\"}");
    ok(!webot_stripe_event_parse(P, j, &why), "string created: not an event");
    json_decref(j);
    j = J("[1,2]");
    ok(!webot_stripe_event_parse(P, j, &why), "an array: not an event");
    json_decref(j);
}

/* --- prices --------------------------------------------------------------- */

static const char *check(const char *price_fields, int live)
{
    webot_plan_t pl;
    const char *pid = NULL, *r;
    json_t *j;
    memset(&pl, 0, sizeof(pl));
    pl.id = "agent_pro";
    pl.price_amount = 9900;
    pl.currency = "usd";
    pl.interval = "month";
    pl.stripe_lookup_key = "webot_agent_pro_monthly";
    j = J(apr_psprintf(P, "{\"object\":\"list\",\"has_more\":false,\"data\":"
          "[{\"id\":\"price_other\",\"lookup_key\":\"other\"},{\"id\":"
          "\"price_1\",\"object\":\"price\",\"lookup_key\":"
          "\"webot_agent_pro_monthly\",\"type\":\"recurring\","
          "\"billing_scheme\":\"per_unit\",\"transform_quantity\":null%s}]}",
          price_fields));
    r = webot_stripe_price_check(P, j, &pl, live, &pid);
    json_decref(j);
    if (!r && (!pid || strcmp(pid, "price_1"))) {
        return "price id not returned";
    }
    return r ? r : "OK";
}

#define GOOD_REC ",\"recurring\":{\"interval\":\"month\",\"interval_count\":1," \
                 "\"usage_type\":\"licensed\"}"

static void test_prices(void)
{
    const char *r;
    webot_plan_t pl;
    const char *pid;
    json_t *j;

    is_str(check(",\"active\":true,\"livemode\":false,\"unit_amount\":9900,"
                 "\"currency\":\"usd\"" GOOD_REC, 0), "OK",
           "matching price verifies");
    is_str(check(",\"active\":true,\"livemode\":true,\"unit_amount\":9900,"
                 "\"currency\":\"USD\"" GOOD_REC, 1), "OK",
           "live key, live price, currency case-insensitive");
    r = check(",\"active\":true,\"livemode\":false,\"unit_amount\":9800,"
              "\"currency\":\"usd\"" GOOD_REC, 0);
    ok(strstr(r, "amount is 9800") && strstr(r, "9900"), "amount mismatch: %s",
       r);
    r = check(",\"active\":true,\"livemode\":false,\"unit_amount\":9900,"
              "\"currency\":\"eur\"" GOOD_REC, 0);
    ok(strstr(r, "currency is eur") != NULL, "currency mismatch: %s", r);
    r = check(",\"active\":true,\"livemode\":false,\"unit_amount\":9900,"
              "\"currency\":\"usd\",\"recurring\":{\"interval\":\"year\","
              "\"interval_count\":1}", 0);
    ok(strstr(r, "every year") != NULL, "interval mismatch: %s", r);
    r = check(",\"active\":true,\"livemode\":false,\"unit_amount\":9900,"
              "\"currency\":\"usd\",\"recurring\":{\"interval\":\"month\","
              "\"interval_count\":3}", 0);
    ok(strstr(r, "every 3 month") != NULL, "interval_count mismatch: %s", r);
    r = check(",\"active\":true,\"livemode\":true,\"unit_amount\":9900,"
              "\"currency\":\"usd\"" GOOD_REC, 0);
    ok(strstr(r, "live-mode price") != NULL, "livemode mismatch: %s", r);
    r = check(",\"active\":true,\"livemode\":false,\"unit_amount\":9900,"
              "\"currency\":\"usd\"" GOOD_REC, 1);
    ok(strstr(r, "test-mode price") != NULL, "test price, live key: %s", r);
    r = check(",\"active\":false,\"livemode\":false,\"unit_amount\":9900,"
              "\"currency\":\"usd\"" GOOD_REC, 0);
    ok(strstr(r, "not active") != NULL, "inactive: %s", r);
    r = check(",\"active\":true,\"livemode\":false,\"unit_amount\":9900,"
              "\"currency\":\"usd\"", 0);
    ok(strstr(r, "not recurring") != NULL, "one-time price: %s", r);
    r = check(",\"active\":true,\"livemode\":false,\"unit_amount\":null,"
              "\"currency\":\"usd\"" GOOD_REC, 0);
    ok(strstr(r, "not a fixed amount") != NULL, "no unit_amount: %s", r);
    r = check(",\"active\":true,\"livemode\":false,\"unit_amount\":9900,"
              "\"currency\":\"usd\",\"recurring\":{\"interval\":\"month\","
              "\"usage_type\":\"metered\"}", 0);
    ok(strstr(r, "metered") != NULL, "metered: %s", r);

    memset(&pl, 0, sizeof(pl));
    pl.stripe_lookup_key = "missing_key";
    pl.interval = "month";
    pl.currency = "usd";
    j = J("{\"object\":\"list\",\"data\":[]}");
    r = webot_stripe_price_check(P, j, &pl, 0, &pid);
    ok(r && strstr(r, "missing_key"), "no price with the key: %s",
       r ? r : "(null)");
    json_decref(j);
    j = J("{\"error\":{\"type\":\"api_error\"}}");
    ok(webot_stripe_price_check(P, j, &pl, 0, &pid) != NULL,
       "an error object is not a list");
    json_decref(j);
}

static void test_form(void)
{
    const char *pairs[] = { "mode", "subscription",
                            "line_items[0][price]", "price_1",
                            "skipped", NULL,
                            "success_url",
                            "https://x.test/ok?session_id={CHECKOUT_SESSION_ID}&a=b c",
                            "metadata[tier]", "agent_pro", NULL };
    is_str(webot_form_encode(P, pairs),
           "mode=subscription&line_items[0][price]=price_1&success_url="
           "https%3A%2F%2Fx.test%2Fok%3Fsession_id%3D%7BCHECKOUT_SESSION_ID"
           "%7D%26a%3Db%20c&metadata[tier]=agent_pro",
           "form encoding: brackets kept in names, values escaped");
    is_str(webot_url_escape(P, "webot_agent[1]~ \xC3\xA9"),
           "webot_agent%5B1%5D~%20%C3%A9", "url escape");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&P, NULL);
    test_signatures();
    test_secret_files();
    test_key_mode();
    test_events();
    test_prices();
    test_form();
    printf("1..%d\n", ntests);
    apr_pool_destroy(P);
    apr_terminate();
    if (nfailed) {
        printf("# %d of %d failed\n", nfailed, ntests);
        return 1;
    }
    return 0;
}
