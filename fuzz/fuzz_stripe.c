/* fuzz_stripe.c: what the Stripe webhook route and the Stripe client do
 * with bytes from outside (webot_stripe_sig.c, webot_stripe_obj.c).
 *
 *   input = byte 0: mode, then NUL-separated fields
 *     mode 0: Stripe-Signature header, payload: verified with two secrets
 *             (rotation) at a fixed now; then the payload is signed for
 *             real and must verify, and must not once a byte changes
 *     mode 1: payload as a webhook event: webot_json_parse, then
 *             webot_stripe_event_parse (what the route does after the
 *             signature passed)
 *     mode 2: a Stripe price list (GET /v1/prices answer) checked against
 *             a plan (webot_stripe_price_check)
 *     mode 3: webhook secret file text (webot_stripe_parse_secrets)
 *
 * Properties: OK only with a t inside the tolerance; a genuine header
 * verifies, a changed payload does not; parsed secrets are at least
 * minlen long without blanks or control characters. */
#include "fuzz_common.h"

#include <apr_lib.h>

#include "webot_json.h"
#include "webot_stripe.h"

#define NOW 1700000000LL
#define TOLERANCE 300LL

static const char *const KEYS[] = {
    "whsec_old_secret_aaaaaaaaaaaaaaaa",
    "whsec_test_secret_0123456789abcdef" };

static webot_stripe_secret_t secrets[2];
static webot_plan_t plan;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int i;
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    for (i = 0; i < 2; i++) {
        secrets[i].key = (const unsigned char *)KEYS[i];
        secrets[i].len = strlen(KEYS[i]);
    }
    plan.id = "agent_pro";
    plan.name = "Agent Pro";
    plan.access = 1;
    plan.price_amount = 4900;
    plan.currency = "usd";
    plan.interval = "month";
    plan.stripe_lookup_key = "agent_pro_monthly";
    return 0;
}

static void signatures(apr_pool_t *p, const char *header,
                       const char *payload, size_t len)
{
    long long t = -1;
    webot_stripe_sig_e rc;
    char *good, *changed;

    rc = webot_stripe_sig_verify(header, payload, len, secrets, 2, NOW,
                                 TOLERANCE, &t);
    CHECK(rc >= WEBOT_STRIPE_SIG_OK && rc <= WEBOT_STRIPE_SIG_NO_SECRET);
    CHECK(webot_stripe_sig_reason(rc) != NULL);
    if (rc == WEBOT_STRIPE_SIG_OK) {
        CHECK(t >= NOW - TOLERANCE && t <= NOW + TOLERANCE);
    }
    CHECK(webot_stripe_sig_verify(header, payload, len, secrets, 0, NOW,
                                  TOLERANCE, NULL)
          == WEBOT_STRIPE_SIG_NO_SECRET);

    /* the real thing, with either secret, verifies */
    good = webot_stripe_sig_header(p, KEYS[1], strlen(KEYS[1]), NOW - 10,
                                   payload, len);
    CHECK(good != NULL);
    CHECK(webot_stripe_sig_verify(good, payload, len, secrets, 2, NOW,
                                  TOLERANCE, NULL) == WEBOT_STRIPE_SIG_OK);
    /* a header with the genuine v1 plus the fuzzed items: anything but a
     * second t= is still fine (other schemes and junk are ignored) */
    rc = webot_stripe_sig_verify(apr_pstrcat(p, good, ",", header, NULL),
                                 payload, len, secrets, 2, NOW, TOLERANCE,
                                 NULL);
    CHECK(rc == WEBOT_STRIPE_SIG_OK || rc == WEBOT_STRIPE_SIG_MALFORMED);
    /* a changed payload does not verify */
    changed = fuzz_copy_extra(p, payload, len, 1);
    changed[len] = ' ';
    CHECK(webot_stripe_sig_verify(good, changed, len + 1, secrets, 2, NOW,
                                  TOLERANCE, NULL)
          == WEBOT_STRIPE_SIG_MISMATCH);
    if (len) {
        changed = apr_pstrmemdup(p, payload, len);
        changed[0] ^= 1;
        CHECK(webot_stripe_sig_verify(good, changed, len, secrets, 2, NOW,
                                      TOLERANCE, NULL)
              == WEBOT_STRIPE_SIG_MISMATCH);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *f[2], *why = NULL;
    json_t *j;

    if (size < 1) {
        return 0;
    }
    p = fuzz_pool();
    switch (data[0] % 4) {
    case 0: {
        /* the payload is the raw rest after the header: it may hold NULs */
        const uint8_t *nul = memchr(data + 1, 0, size - 1);
        size_t hlen = nul ? (size_t)(nul - data - 1) : size - 1;
        const char *header = apr_pstrmemdup(p, (const char *)data + 1, hlen);
        const char *payload = nul ? (const char *)nul + 1 : "";
        size_t plen = nul ? size - 1 - hlen - 1 : 0;
        signatures(p, header, payload, plen);
        break;
    }
    case 1: {
        webot_stripe_event_t *ev;
        j = webot_json_parse(p, (const char *)data + 1, size - 1, &why);
        if (!j) {
            CHECK(why != NULL);
            break;
        }
        ev = webot_stripe_event_parse(p, j, &why);
        if (ev) {
            CHECK(ev->id && *ev->id && ev->type && *ev->type);
            CHECK(ev->created >= 0);
        }
        else {
            CHECK(why != NULL);
        }
        break;
    }
    case 2: {
        const char *price_id = NULL, *problem;
        j = webot_json_parse(p, (const char *)data + 1, size - 1, &why);
        if (!j) {
            break;
        }
        problem = webot_stripe_price_check(p, j, &plan, 0, &price_id);
        CHECK(!problem == !!price_id);
        problem = webot_stripe_price_check(p, j, &plan, 1, &price_id);
        break;
    }
    default: {
        apr_array_header_t *out = apr_array_make(p, 2,
                                                 sizeof(webot_stripe_secret_t));
        const char *problem;
        int i;
        fuzz_fields(p, data + 1, size - 1, f, 1);
        problem = webot_stripe_parse_secrets(p, f[0], 16, out);
        if (!problem) {
            for (i = 0; i < out->nelts; i++) {
                const webot_stripe_secret_t *s =
                    &APR_ARRAY_IDX(out, i, webot_stripe_secret_t);
                apr_size_t k;
                CHECK(s->len >= 16 && s->len == strlen((const char *)s->key));
                for (k = 0; k < s->len; k++) {
                    CHECK(!apr_isspace(s->key[k]) && !apr_iscntrl(s->key[k]));
                }
            }
        }
        break;
    }
    }
    apr_pool_destroy(p);
    return 0;
}
