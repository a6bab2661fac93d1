/* mod_webot_stripe.c: the outbound Stripe client (libcurl) and plan
 * verification ("tier readback") in a background thread.
 *
 * The thread is a named mod_watchdog instance, "webot-stripe", singleton
 * per host: one child runs it, and the others take over when that child
 * goes. Every WebotStripeVerifyInterval seconds (sooner again after a
 * transient failure) it fetches
 *   GET /v1/prices?active=true&limit=100&lookup_keys[]=...   (≤10 keys/call)
 * and records in stripe_prices, for every catalog plan, whether its price
 * exists, is active, recurs with the plan's interval, has the plan's amount
 * and currency, and matches the key's mode (webot_stripe_price_check). The
 * database carries the result to every process and host; requests only
 * read it. A transient failure (no answer, 429, 5xx, no database) keeps the
 * last state; a definite answer (missing or mismatched price, key refused)
 * replaces it.
 *
 * libcurl: curl_global_init once in post_config (mod_webot_billing.c); a
 * handle per call, never shared or inherited; CURLOPT_NOSIGNAL; http and
 * https only, no redirects; connect and total timeouts; a response-size
 * cap; an abort when the child stops. */
#include "mod_webot.h"
#include "mod_webot_billing.h"
#include "webot_store_billing.h"

#include <apr_strings.h>
#include <apr_optional.h>
#include <apr_thread_mutex.h>
#include <http_core.h>
#include <mod_watchdog.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#define WD_NAME             "webot-stripe"
#define MAX_RESPONSE        (1024 * 1024)
#define CONNECT_TIMEOUT_MS  5000L
#define RETRY_SOON_SECS     30
#define KEYS_PER_CALL       10

/* set when the child stops: in-flight calls abort */
static volatile int stopping;
/* Held while the verification thread has a pooled connection: the child's
 * pre-cleanup takes it once, so mod_dbd's pool is never destroyed (at child
 * exit) with that connection still checked out. */
static apr_thread_mutex_t *db_mu;

/* --- the client -------------------------------------------------------------- */

typedef struct sink_t {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap;
    int over;
} sink_t;

static size_t sink_write(char *data, size_t size, size_t n, void *ud)
{
    sink_t *k = ud;
    apr_size_t add = size * n;
    if (k->len + add > MAX_RESPONSE) {
        k->over = 1;
        return 0;                       /* aborts the transfer */
    }
    if (k->len + add + 1 > k->cap) {
        apr_size_t cap = k->cap ? k->cap * 2 : 16384;
        char *nb;
        while (cap < k->len + add + 1) {
            cap *= 2;
        }
        nb = apr_palloc(k->p, cap);
        if (k->len) {
            memcpy(nb, k->buf, k->len);
        }
        k->buf = nb;
        k->cap = cap;
    }
    memcpy(k->buf + k->len, data, add);
    k->len += add;
    k->buf[k->len] = '\0';
    return add;
}

static int progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                    curl_off_t un)
{
    (void)ud;
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return stopping ? 1 : 0;
}

apr_status_t webot_stripe_call(apr_pool_t *p, server_rec *s,
                               const char *method, const char *path,
                               const char *form, const char *idem_key,
                               webot_stripe_resp_t *out)
{
    struct curl_slist *h = NULL;
    sink_t sink;
    CURL *c;
    CURLcode cc;
    long code = 0;
    char *auth;
    const char *url;
    apr_status_t rv = APR_SUCCESS;
    (void)s;

    memset(out, 0, sizeof(*out));
    memset(&sink, 0, sizeof(sink));
    sink.p = p;
    if (!webot_billing.secret_key) {
        out->transport = "no Stripe secret key is configured";
        return APR_EINVAL;
    }
    if (!(c = curl_easy_init())) {
        out->transport = "cannot create a curl handle";
        return APR_ENOMEM;
    }
    url = apr_pstrcat(p, webot_billing.api_base, path, NULL);
    auth = apr_pstrcat(p, "Authorization: Bearer ", webot_billing.secret_key,
                       NULL);
    h = curl_slist_append(h, auth);
    OPENSSL_cleanse(auth, strlen(auth));
    h = curl_slist_append(h, "Stripe-Version: " WEBOT_STRIPE_API_VERSION);
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "Expect:");
    if (idem_key) {
        h = curl_slist_append(h, apr_pstrcat(p, "Idempotency-Key: ", idem_key,
                                             NULL));
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS,
                     CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     (long)webot_billing.timeout * 1000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mod_webot/1.0 (billing)");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form ? form : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
                         (long)(form ? strlen(form) : 0));
    }
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        out->status = (int)code;
        out->body = sink.buf ? sink.buf : "";
        out->len = sink.len;
    }
    else {
        out->transport = sink.over ? "the answer exceeded 1 MiB"
                       : stopping ? "the server is stopping"
                       : apr_pstrdup(p, curl_easy_strerror(cc));
        rv = cc == CURLE_OPERATION_TIMEDOUT ? APR_TIMEUP : APR_EGENERAL;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rv == APR_SUCCESS && out->len) {
        json_error_t je;
        out->json = webot_json_own(p, json_loadb(out->body, out->len, 0,
                                                 &je));
        if (json_is_object(out->json)) {
            json_t *e = json_object_get(out->json, "error");
            if (json_is_object(e)) {
                out->err_type = webot_json_str(e, "type");
                out->err_code = webot_json_str(e, "code");
                out->err_message = webot_json_str(e, "message");
            }
        }
    }
    return rv;
}

/* --- plan verification ------------------------------------------------------- */

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

static const char *mode_name(void)
{
    return webot_billing.key_mode == WEBOT_STRIPE_MODE_LIVE ? "live" : "test";
}

/* Checks one batch of plans; fills st[] (problem set when not verified).
 * Returns 0, or -1 when the batch failed transiently (st untouched). */
static int verify_batch(apr_pool_t *p, server_rec *s,
                        const webot_plan_t *const *plans, int n,
                        webot_price_state_t *st, const char **transient)
{
    webot_stripe_resp_t resp;
    const char *path = "/v1/prices?active=true&limit=100", *problem = NULL;
    int i, live = webot_billing.key_mode == WEBOT_STRIPE_MODE_LIVE;

    for (i = 0; i < n; i++) {
        path = apr_pstrcat(p, path, "&lookup_keys[]=",
                           webot_url_escape(p, plans[i]->stripe_lookup_key),
                           NULL);
    }
    if (webot_stripe_call(p, s, "GET", path, NULL, NULL, &resp)
        != APR_SUCCESS) {
        *transient = apr_psprintf(p, "no answer from Stripe: %s",
                                  resp.transport);
        return -1;
    }
    if (resp.status >= 500 || resp.status == 429) {
        *transient = apr_psprintf(p, "Stripe answered %d", resp.status);
        return -1;
    }
    if (resp.status == 401 || resp.status == 403) {
        problem = apr_psprintf(p, "Stripe refused the secret key (%d %s)",
                               resp.status, resp.err_type ? resp.err_type
                                                          : "");
    }
    else if (resp.status != 200 || !json_is_object(resp.json)) {
        problem = apr_psprintf(p, "Stripe answered %d %s%s%s", resp.status,
                               resp.err_type ? resp.err_type : "",
                               resp.err_code ? " " : "",
                               resp.err_code ? resp.err_code : "");
    }
    for (i = 0; i < n; i++) {
        const char *pid = NULL;
        st[i].plan_id = plans[i]->id;
        st[i].lookup_key = plans[i]->stripe_lookup_key;
        st[i].key_mode = mode_name();
        st[i].amount = plans[i]->price_amount;
        st[i].currency = plans[i]->currency;
        st[i].interval = plans[i]->interval;
        st[i].problem = problem ? problem
                      : webot_stripe_price_check(p, resp.json, plans[i], live,
                                                 &pid);
        st[i].verified = !st[i].problem;
        st[i].price_id = pid;
    }
    return 0;
}

/* One run; returns 1 when it should be tried again soon. */
static int verify_once(apr_pool_t *p, server_rec *s)
{
    static int failing;
    webot_srv_cfg *sc = ap_get_module_config(s->module_config,
                                             &webot_module);
    const webot_catalog_t *cat = sc ? sc->catalog : NULL;
    const char *transient = NULL;
    webot_price_state_t *st;
    ap_dbd_t *dbd;
    webot_db_t db;
    int i, n, ok = 0, saved = 0;

    if (!cat || !webot_billing.secret_key || !cat->plans->nelts) {
        return 0;
    }
    n = cat->plans->nelts;
    st = apr_pcalloc(p, sizeof(*st) * (apr_size_t)n);
    for (i = 0; i < n; i += KEYS_PER_CALL) {
        int m = n - i < KEYS_PER_CALL ? n - i : KEYS_PER_CALL;
        const char *why = NULL;
        if (stopping) {
            return 0;
        }
        if (verify_batch(p, s, (const webot_plan_t *const *)cat->plans->elts
                               + i, m, st + i, &why) != 0) {
            transient = why;
        }
    }
    if (db_mu) {
        apr_thread_mutex_lock(db_mu);
    }
    if (stopping) {
        if (db_mu) {
            apr_thread_mutex_unlock(db_mu);
        }
        return 0;
    }
    if (!dbd_open || !(dbd = dbd_open(p, s))) {
        transient = transient ? transient : "no database connection";
    }
    else {
        memset(&db, 0, sizeof(db));
        db.driver = dbd->driver;
        db.handle = dbd->handle;
        db.conn_pool = dbd->pool;
        db.cache = dbd->prepared;
        for (i = 0; i < n; i++) {
            int changed = 0;
            if (!st[i].plan_id) {
                continue;               /* its batch failed transiently */
            }
            if (webot_store_price_save(&db, p, &st[i], &changed)
                != WEBOT_DB_OK) {
                transient = "the database refused the verification result";
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30430)
                             "stripe verification: cannot save plan %s: %s",
                             st[i].plan_id, webot_db_errmsg(&db));
                break;
            }
            saved++;
            if (!changed) {
                continue;
            }
            if (st[i].verified) {
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30431)
                             "stripe verification: plan %s is available for "
                             "checkout (price %s, %s mode)", st[i].plan_id,
                             st[i].price_id, st[i].key_mode);
            }
            else {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30432)
                             "stripe verification: plan %s is not available "
                             "for checkout: %s", st[i].plan_id,
                             ap_escape_logitem(p, st[i].problem));
            }
        }
        dbd_close(s, dbd);
        ok = 1;
    }
    if (db_mu) {
        apr_thread_mutex_unlock(db_mu);
    }
    if (transient) {
        if (!failing) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30433)
                         "stripe verification incomplete (%s); the last "
                         "known state stays, retrying within %d s",
                         ap_escape_logitem(p, transient),
                         webot_billing.verify_interval < RETRY_SOON_SECS
                         ? webot_billing.verify_interval : RETRY_SOON_SECS);
        }
        failing = 1;
        return 1;
    }
    if (failing && ok) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30434)
                     "stripe verification works again (%d plans checked)",
                     saved);
    }
    failing = 0;
    return 0;
}

static apr_time_t next_due;

static apr_status_t verify_cb(int state, void *data, apr_pool_t *pool)
{
    server_rec *s = data;
    apr_time_t now = apr_time_now();
    int soon;

    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        /* the first run on the first tick: mod_dbd is set up by then */
        next_due = 0;
        break;
    case AP_WATCHDOG_STATE_RUNNING:
        if (stopping || now < next_due) {
            break;
        }
        soon = verify_once(pool, s);
        next_due = apr_time_now() + apr_time_from_sec(
            soon && webot_billing.verify_interval > RETRY_SOON_SECS
            ? RETRY_SOON_SECS : webot_billing.verify_interval);
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        stopping = 1;
        break;
    }
    return APR_SUCCESS;
}

apr_status_t webot_stripe_post_config(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *wd_get;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *wd_register;
    ap_watchdog_t *wd;
    apr_status_t rv;

    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    wd_get = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    wd_register = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!wd_get || !wd_register || !dbd_open || !dbd_close) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30435)
                     "mod_watchdog or mod_dbd is not loaded: Stripe prices "
                     "are not verified and checkout stays unavailable");
        return APR_SUCCESS;
    }
    if ((rv = wd_get(&wd, WD_NAME, 0, 1, pconf)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, APLOGNO(30436)
                     "cannot create the %s watchdog", WD_NAME);
        return rv;
    }
    if ((rv = wd_register(wd, apr_time_from_sec(1), s, verify_cb))
        != APR_SUCCESS && rv != APR_EEXIST) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, APLOGNO(30437)
                     "cannot register the %s watchdog callback", WD_NAME);
        return rv;
    }
    return APR_SUCCESS;
}

/* Child exit: mod_watchdog joins its threads only after the child pool
 * (and mod_dbd's connection pool in it) is gone, so wait here for a
 * verification that holds a connection to give it back. */
static apr_status_t set_stopping(void *data)
{
    (void)data;
    stopping = 1;
    if (db_mu) {
        apr_thread_mutex_lock(db_mu);
        apr_thread_mutex_unlock(db_mu);
    }
    return APR_SUCCESS;
}

void webot_stripe_child_init(apr_pool_t *p, server_rec *s)
{
    stopping = 0;
    next_due = 0;
    db_mu = NULL;
    /* in the process pool: the watchdog thread may still take it after the
     * child pool is gone (it then sees `stopping` and leaves) */
    if (apr_thread_mutex_create(&db_mu, APR_THREAD_MUTEX_DEFAULT,
                                s->process->pool)
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30438)
                     "stripe verification: cannot create its mutex");
        db_mu = NULL;
        stopping = 1;           /* never verify without a safe exit */
    }
    apr_pool_pre_cleanup_register(p, NULL, set_stopping);
}
