/* mod_webot_auth.c: the access gate for non-public routes, and the
 * start-up of identity and access (settings, the dummy bcrypt hash, the
 * rate limiter's hooks).
 *
 * The gate, in order (the first refusal answers):
 *   1. credential: "Authorization: Bearer wbt_..." (an API key), else the
 *      webot_session cookie; SHA-256 of it, one SELECT that also reads the
 *      account, its entitlement and the current quota period (no cache, so
 *      a revocation is seen by the next request on every host); 401
 *      UNAUTHORIZED when missing, malformed, unknown, revoked or expired;
 *   2. CSRF: a cookie-authenticated POST/PUT/PATCH/DELETE needs
 *      X-CSRF-Token matching the session's (403 CSRF_FAILED);
 *   3. route kind: session-only routes refuse API keys, owner routes also
 *      members (403 FORBIDDEN); scope of an API key (403 FORBIDDEN);
 *   4. entitlement: API keys need "api", sessions "dashboard", except on
 *      WEBOT_RF_ACCOUNT_CONTEXT routes (403 ENTITLEMENT_REQUIRED);
 *   5. rate limit per key or session (429 RATE_LIMITED with Retry-After).
 * 401 and 403 are not counted against the rate limit; authenticated
 * answers (403 included) carry the RateLimit fields. */
#include "mod_webot_auth.h"
#include "webot_store_auth.h"
#include "webot_batchq.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_md5.h>
#include <http_core.h>

#include <pthread.h>

apr_interval_time_t webot_past_due_grace = WEBOT_DEFAULT_PAST_DUE_GRACE;

/* settings, reset in pre_config for every configuration pass */
static int cfg_idle = -1;
static int cfg_max = -1;
static const char *dummy_hash;

int webot_session_idle_secs(void)
{
    return cfg_idle > 0 ? cfg_idle : WEBOT_SESSION_IDLE_DEFAULT;
}

int webot_session_max_secs(void)
{
    return cfg_max > 0 ? cfg_max : WEBOT_SESSION_MAX_DEFAULT;
}

const char *webot_auth_dummy_hash(void)
{
    return dummy_hash;
}

/* --- directives ------------------------------------------------------- */

const char *webot_set_ratelimit_cache(cmd_parms *cmd, void *d,
                                      const char *arg)
{
    (void)d;
    return webot_ratelimit_set_cache(cmd, arg);
}

static const char *set_secs(cmd_parms *cmd, const char *name,
                            const char *arg, long long min, long long max,
                            int *out)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long long v;
    if (err) {
        return err;
    }
    if ((err = webot_parse_directive_int(cmd->pool, name, arg, min, max,
                                         &v))) {
        return err;
    }
    *out = (int)v;
    return NULL;
}

const char *webot_set_session_idle(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return set_secs(cmd, "WebotSessionIdleTimeout", arg, 60, 30 * 86400,
                    &cfg_idle);
}

const char *webot_set_session_lifetime(cmd_parms *cmd, void *d,
                                       const char *arg)
{
    (void)d;
    return set_secs(cmd, "WebotSessionLifetime", arg, 300, 90 * 86400,
                    &cfg_max);
}

/* --- hooks -------------------------------------------------------------- */

static int auth_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    cfg_idle = -1;
    cfg_max = -1;
    webot_past_due_grace = WEBOT_DEFAULT_PAST_DUE_GRACE;
    webot_ratelimit_pre_config(pconf);
    return OK;
}

/* bcrypt cost of webotctl user create */
#define DUMMY_BCRYPT_COST 10

static int auth_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    unsigned char rnd[32];
    char out[128];
    (void)plog;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (!dummy_hash) {
        /* made once per httpd start, kept across graceful restarts */
        if (apr_generate_random_bytes(rnd, sizeof(rnd)) != APR_SUCCESS
            || apr_bcrypt_encode(webot_hex(ptemp, rnd, 16), DUMMY_BCRYPT_COST,
                                 rnd + 16, 16, out, sizeof(out))
               != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(30110)
                         "cannot make the start-up bcrypt hash");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        dummy_hash = strdup(out);
    }
    return webot_ratelimit_post_config(pconf, ptemp, s);
}

static void auth_child_init(apr_pool_t *p, server_rec *s)
{
    webot_ratelimit_child_init(p, s);
}

void webot_auth_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(auth_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(auth_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(auth_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}

/* --- cookies and credentials ------------------------------------------- */

void webot_session_cookie(webot_req_t *wr, const char *token, int max_age)
{
    request_rec *r = wr->r;
    int tls = !strcmp(ap_http_scheme(r), "https");
    const char *v = apr_psprintf(r->pool,
        "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
        WEBOT_SESSION_COOKIE, token ? token : "", token ? max_age : 0,
        tls ? "; Secure" : "");
    apr_table_addn(r->err_headers_out, "Set-Cookie", v);
}

/* prefix + 16..128 of [A-Za-z0-9] */
static int token_ok(const char *t, const char *prefix)
{
    apr_size_t n = strlen(prefix), i;
    if (strncmp(t, prefix, n)) {
        return 0;
    }
    for (i = 0; t[n + i]; i++) {
        if (i >= 128 || !apr_isalnum(t[n + i])) {
            return 0;
        }
    }
    return i >= 16;
}

/* The Bearer token of an Authorization value, or NULL when malformed. */
static const char *bearer_of(apr_pool_t *p, const char *h)
{
    const char *t;
    if (strncasecmp(h, "Bearer", 6) || (h[6] != ' ' && h[6] != '\t')) {
        return NULL;
    }
    for (t = h + 7; *t == ' ' || *t == '\t'; t++)
        ;
    t = apr_pstrdup(p, t);
    {
        char *end = (char *)t + strlen(t);
        while (end > t && (end[-1] == ' ' || end[-1] == '\t')) {
            *--end = '\0';
        }
    }
    return token_ok(t, "wbt_") ? t : NULL;
}

/* The value of the session cookie (the first one), or NULL. */
static const char *session_cookie_of(apr_pool_t *p, const char *cookies)
{
    static const char name[] = WEBOT_SESSION_COOKIE "=";
    const char *c = cookies;
    while (c && *c) {
        while (*c == ' ' || *c == '\t' || *c == ';') {
            c++;
        }
        if (!strncmp(c, name, sizeof(name) - 1)) {
            const char *v = c + sizeof(name) - 1;
            apr_size_t n = strcspn(v, "; \t");
            return apr_pstrmemdup(p, v, n);
        }
        c = strchr(c, ';');
    }
    return NULL;
}

static int hash_matches(apr_pool_t *p, const unsigned char *hash,
                        const char *stored_hex)
{
    const char *mine = webot_hex(p, hash, WEBOT_SHA256_LEN);
    return stored_hex && webot_ct_equal(mine, strlen(mine), stored_hex,
                                        strlen(stored_hex));
}

static int is_mutation(const char *method)
{
    return !strcmp(method, "POST") || !strcmp(method, "PUT")
           || !strcmp(method, "DELETE") || !strcmp(method, "PATCH");
}

/* --- the gate ------------------------------------------------------------ */

static webot_auth_t *auth_from(webot_req_t *wr, webot_principal_t *pr,
                               webot_authn_e method)
{
    webot_auth_t *a = apr_pcalloc(wr->p, sizeof(*a));
    webot_ent_view_t v;
    const char *bad = NULL;

    a->method = method;
    a->account_id = pr->account_id;
    a->account_name = pr->account_name;
    a->account_created_at = pr->account_created_at;
    a->key_id = pr->key_id;
    a->key_prefix = pr->key_prefix;
    a->user_id = pr->user_id;
    a->email = pr->email;
    a->role = pr->role;
    a->session_id = pr->session_id;
    a->scopes = method == WEBOT_AUTHN_SESSION
                ? WEBOT_SCOPE_ALL
                : webot_scopes_parse(wr->p, pr->scopes_csv, &bad);
    webot_entitlement_eval(wr->p, wr->sc->catalog, &pr->ent,
                           webot_past_due_grace, &v);
    a->ent_status = v.status;
    a->ent_source = pr->ent.present ? pr->ent.source : NULL;
    a->plan = v.plan;
    a->access = v.access;
    a->plan_access = v.plan_access;
    a->ent_usable = v.usable;
    a->ent_why = v.why;
    a->monthly_jobs = v.monthly_jobs;
    a->max_active_jobs = v.max_active_jobs;
    a->max_revisions = v.max_revisions;
    a->rate_limit_per_minute = v.rate_limit_per_minute;
    a->max_upload_bytes = v.max_upload_bytes;
    a->period_start = pr->ent.period_start;
    a->period_end = pr->ent.period_end;
    a->quota_used = pr->ent.quota_used;
    a->ent_expires_at = pr->ent.expires_at;
    a->ent_updated_at = pr->ent.updated_at;
    return a;
}

static int unauthorized(webot_req_t *wr, const char *msg)
{
    return webot_fail(wr, "UNAUTHORIZED", "%s", msg);
}

/* The RateLimit fields of an authenticated refusal (not counted). */
static void peek_headers(webot_req_t *wr)
{
    webot_auth_t *a = wr->auth;
    webot_rl_t rl;
    webot_ratelimit_take(wr->r, a->key_id ? a->key_id : a->session_id,
                         a->rate_limit_per_minute, 0, &rl);
    webot_ratelimit_headers(wr->r, &rl);
}

/* An authenticated refusal: the RateLimit fields (not counted), then the
 * error. */
static int refuse(webot_req_t *wr, webot_error_t *e)
{
    peek_headers(wr);
    return webot_send_error(wr, e);
}

static void record_reject(webot_req_t *wr, const char *code)
{
    webot_dbrc_e rc = webot_store_usage_reject(wr->db, wr->p,
                                               wr->auth->account_id, code);
    if (rc != WEBOT_DB_OK) {
        /* telemetry only: the refusal is answered all the same */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, wr->r, APLOGNO(30111)
                      "cannot record a %s usage event (request_id %s)",
                      code, wr->request_id);
    }
}

static const char *scope_missing(apr_pool_t *p, unsigned need, unsigned have)
{
    return webot_scopes_csv(p, need & ~have);
}

int webot_access_authorize(webot_req_t *wr)
{
    const webot_route_t *rt = wr->route;
    webot_auth_t *a = wr->auth;
    unsigned need;

    if (!a) {
        return unauthorized(wr, "A valid API key or dashboard session is "
                            "required.");
    }
    if (rt->auth == WEBOT_AUTH_SESSION || rt->auth == WEBOT_AUTH_OWNER) {
        if (a->method != WEBOT_AUTHN_SESSION) {
            return refuse(wr, webot_error_make(wr->p, "FORBIDDEN",
                "%s %s needs a dashboard session%s; API keys cannot use it.",
                rt->method, webot_route_full_path(wr->p, rt),
                rt->auth == WEBOT_AUTH_OWNER ? " of an owner or admin" : ""));
        }
        if (rt->auth == WEBOT_AUTH_OWNER
            && (!a->role || (strcmp(a->role, "owner")
                             && strcmp(a->role, "admin")))) {
            return refuse(wr, webot_error_make(wr->p, "FORBIDDEN",
                "%s %s needs the owner or admin role; this user is a %s.",
                rt->method, webot_route_full_path(wr->p, rt),
                a->role ? a->role : "user"));
        }
    }
    if (rt->scopes & ~a->scopes) {
        return refuse(wr, webot_error_make(wr->p, "FORBIDDEN",
            "This API key lacks the scope %s that %s %s needs.",
            scope_missing(wr->p, rt->scopes, a->scopes), rt->method,
            webot_route_full_path(wr->p, rt)));
    }
    if (rt->flags & WEBOT_RF_ACCOUNT_CONTEXT) {
        return OK;
    }
    need = a->method == WEBOT_AUTHN_API_KEY ? WEBOT_ACCESS_API
                                            : WEBOT_ACCESS_DASHBOARD;
    if (!(a->access & need)) {
        const char *path = need == WEBOT_ACCESS_API ? "api" : "dashboard";
        webot_error_t *e;
        const char *why = a->ent_why;
        if (!why) {
            why = apr_psprintf(wr->p, "the plan %s does not include %s "
                               "access", a->plan ? a->plan->id : "",
                               path);
        }
        e = webot_error_make(wr->p, "ENTITLEMENT_REQUIRED",
            "%s needs an active entitlement whose plan includes \"%s\": %s%s"
            " See GET /api/v1/entitlements.",
            a->method == WEBOT_AUTHN_API_KEY ? "An API key"
                                             : "A dashboard session",
            path, why, why[strlen(why) - 1] == '.' ? "" : ".");
        /* an agent cannot buy a plan: it has to ask a human */
        e->suggested_action = a->method == WEBOT_AUTHN_API_KEY
                              ? "ask_human" : "upgrade_plan";
        if (wr->db) {
            record_reject(wr, "ENTITLEMENT_REQUIRED");
        }
        return refuse(wr, e);
    }
    return OK;
}

/* --- API key lookups in batches ---------------------------------------
 *
 * Every request with an API key reads its key, account and entitlement
 * (one statement). Most of a lookup's cost in PostgreSQL is fixed per
 * statement (waking the backend, starting the plan's executor), not per
 * key, so lookups that queue up while others run are batched: a request
 * that finds fewer than KEYS_LEADERS lookups running in its process runs
 * every lookup queued so far, its own included, in one statement on its
 * own connection (webot_store_auth_keys) and hands each waiting request its
 * principal; the others wait. A lookup is always answered by a statement
 * that started after it was queued, so a key revoked before its request
 * arrived is refused exactly as by a lookup of its own, on every process
 * and host. If the batch fails, each waiter looks its key up alone on its
 * own connection, unless it ran out of time (WebotDBStatementTimeout):
 * then every waiter answers 503, as each would have after waiting alone. */

#define KEYS_BATCH_MAX 64
#define KEYS_LEADERS 1

enum { KL_QUEUED, KL_TAKEN, KL_DONE, KL_ALONE };

typedef struct key_lookup_t {
    const char *hash_hex;
    apr_pool_t *p;                  /* the waiting request's pool */
    webot_principal_t *pr;
    webot_dbrc_e rc;
    int state;
    pthread_cond_t cv;              /* its own: woken once, when done or
                                     * when it is to lead */
    struct key_lookup_t *next;
} key_lookup_t;

static struct {
    pthread_mutex_t mu;
    WEBOT_BATCHQ(key_lookup_t) q;
    int leading;
} keys = { PTHREAD_MUTEX_INITIALIZER, { NULL, NULL }, 0 };

/* With keys.mu held: a lead was given up; the first queued lookup takes
 * it. */
static void keys_lead_freed(void)
{
    keys.leading--;
    if (!WEBOT_BATCHQ_EMPTY(&keys.q)) {
        pthread_cond_signal(&keys.q.head->cv);
    }
}

static void keys_run(webot_req_t *wr, webot_db_t *db, key_lookup_t **v,
                     int n)
{
    const char *hex[KEYS_BATCH_MAX];
    apr_pool_t *pools[KEYS_BATCH_MAX];
    webot_principal_t *out[KEYS_BATCH_MAX];
    apr_pool_t *tp;
    webot_dbrc_e rc;
    int i, ok;

    apr_pool_create(&tp, wr->p);
    apr_pool_tag(tp, "webot_key_batch");
    for (i = 0; i < n; i++) {
        hex[i] = v[i]->hash_hex;
        pools[i] = v[i]->p;
    }
    rc = webot_store_auth_keys(db, tp, n, hex, pools, out);
    /* out of time: so would each lookup alone (503, retry later) */
    ok = rc == WEBOT_DB_OK || rc == WEBOT_DB_BUSY;
    if (!ok) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, wr->r, APLOGNO(30114)
                      "a batch of %d API key lookups failed; each runs "
                      "alone (request_id %s): %s", n, wr->request_id,
                      ap_escape_logitem(wr->p, webot_db_errmsg(db)));
    }
    else if (n > 1) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, wr->r, APLOGNO(30115)
                      "%d API key lookups in one statement", n);
    }
    apr_pool_destroy(tp);
    pthread_mutex_lock(&keys.mu);
    for (i = 0; i < n; i++) {
        v[i]->pr = rc == WEBOT_DB_OK ? out[i] : NULL;
        v[i]->rc = rc;
        v[i]->state = ok ? KL_DONE : KL_ALONE;
        pthread_cond_signal(&v[i]->cv);
    }
    keys_lead_freed();
    pthread_mutex_unlock(&keys.mu);
}

/* The principal of the API key with this hash (NULL: unknown or revoked),
 * read in a batch with the lookups of concurrent requests of this process
 * (see above); db is the request's connection. */
static webot_dbrc_e key_lookup(webot_req_t *wr, webot_db_t *db,
                               const unsigned char hash[WEBOT_SHA256_LEN],
                               webot_principal_t **out)
{
    key_lookup_t me, *v[KEYS_BATCH_MAX];
    webot_dbrc_e rc;
    int n;

    me.hash_hex = webot_hex(wr->p, hash, WEBOT_SHA256_LEN);
    me.p = wr->p;
    me.pr = NULL;
    me.rc = WEBOT_DB_OK;
    me.state = KL_QUEUED;

    pthread_mutex_lock(&keys.mu);
    if (WEBOT_BATCHQ_EMPTY(&keys.q) && keys.leading < KEYS_LEADERS) {
        /* nobody waits and a lead is free: look it up alone, unqueued */
        keys.leading++;
        pthread_mutex_unlock(&keys.mu);
        rc = webot_store_auth_key(db, wr->p, hash, out);
        pthread_mutex_lock(&keys.mu);
        keys_lead_freed();
        pthread_mutex_unlock(&keys.mu);
        return rc;
    }
    pthread_cond_init(&me.cv, NULL);
    WEBOT_BATCHQ_PUSH(&keys.q, &me);
    while (me.state == KL_QUEUED || me.state == KL_TAKEN) {
        if (me.state == KL_TAKEN || keys.leading >= KEYS_LEADERS) {
            pthread_cond_wait(&me.cv, &keys.mu);
            continue;
        }
        keys.leading++;
        WEBOT_BATCHQ_TAKE(&keys.q, v, KEYS_BATCH_MAX, KL_TAKEN, n);
        pthread_mutex_unlock(&keys.mu);
        keys_run(wr, db, v, n);     /* releases the lead */
        pthread_mutex_lock(&keys.mu);
    }
    pthread_mutex_unlock(&keys.mu);
    /* nobody signals it any more: it was signalled under keys.mu */
    pthread_cond_destroy(&me.cv);
    if (me.state == KL_ALONE) {
        return webot_store_auth_key(db, wr->p, hash, out);
    }
    *out = me.pr;
    return me.rc;
}

int webot_access_check(webot_req_t *wr)
{
    request_rec *r = wr->r;
    const webot_auth_t *prev = wr->auth;
    const char *authz = apr_table_get(r->headers_in, "Authorization");
    const char *cookies, *token;
    unsigned char hash[WEBOT_SHA256_LEN];
    webot_principal_t *pr = NULL;
    webot_authn_e method;
    webot_error_t *err = NULL;
    webot_db_t *db;
    webot_dbrc_e rc;
    webot_rl_t rl;
    int st;

    wr->auth = NULL;
    if (authz) {
        if (!(token = bearer_of(wr->p, authz))) {
            return unauthorized(wr, "The Authorization header must be "
                                "\"Bearer wbt_...\" with an API key.");
        }
        method = WEBOT_AUTHN_API_KEY;
    }
    else if ((cookies = apr_table_get(r->headers_in, "Cookie"))
             && (token = session_cookie_of(wr->p, cookies))) {
        if (!token_ok(token, "wbs_")) {
            webot_session_cookie(wr, NULL, 0);
            return unauthorized(wr, "The dashboard session cookie is not "
                                "valid; sign in again.");
        }
        method = WEBOT_AUTHN_SESSION;
    }
    else {
        return unauthorized(wr, "An API key (Authorization: Bearer wbt_...) "
                            "or a dashboard session is required.");
    }

    if (!(db = webot_req_db(wr, &err))) {
        return webot_send_error(wr, err);
    }
    webot_sha256(token, strlen(token), hash);
    rc = method == WEBOT_AUTHN_API_KEY
         ? key_lookup(wr, db, hash, &pr)
         : webot_store_auth_session(db, wr->p, hash,
                                    webot_session_idle_secs(), &pr);
    if (rc == WEBOT_DB_OK && pr && pr->touch_due) {
        rc = webot_store_auth_touch_key(db, wr->p, pr->key_id);
    }
    if (rc != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    if (!pr || !hash_matches(wr->p, hash, pr->hash_hex)) {
        if (method == WEBOT_AUTHN_API_KEY) {
            return unauthorized(wr, "The API key is not valid: it is "
                                "unknown or has been revoked.");
        }
        webot_session_cookie(wr, NULL, 0);
        return unauthorized(wr, "The dashboard session has expired or "
                            "ended; sign in again.");
    }
    wr->auth = auth_from(wr, pr, method);

    if (method == WEBOT_AUTHN_SESSION && is_mutation(r->method)) {
        const char *csrf = apr_table_get(r->headers_in, "X-CSRF-Token");
        unsigned char ch[WEBOT_SHA256_LEN];
        if (csrf) {
            webot_sha256(csrf, strlen(csrf), ch);
        }
        if (!csrf || !hash_matches(wr->p, ch, pr->csrf_hash_hex)) {
            return refuse(wr, webot_error_make(wr->p, "CSRF_FAILED",
                "%s with a session cookie needs the X-CSRF-Token header "
                "with the csrf_token from sign-in.", r->method));
        }
    }
    /* a refusal was sent (webot_send_error returns OK once it has sent) */
    if ((st = webot_access_authorize(wr)) != OK || wr->sent) {
        return st;
    }

    /* rate limit: counted once per request, also across the dispatcher's
     * retry after a lost connection */
    if (prev && prev->rl_counted) {
        wr->auth->rl_counted = 1;
        wr->auth->rl_limit = prev->rl_limit;
        wr->auth->rl_remaining = prev->rl_remaining;
        wr->auth->rl_reset = prev->rl_reset;
        return OK;
    }
    webot_ratelimit_take(r, method == WEBOT_AUTHN_API_KEY ? pr->key_id
                                                          : pr->session_id,
                         wr->auth->rate_limit_per_minute, 1, &rl);
    webot_ratelimit_headers(r, &rl);
    wr->auth->rl_counted = 1;
    wr->auth->rl_limit = rl.limit;
    wr->auth->rl_remaining = rl.remaining;
    wr->auth->rl_reset = rl.reset;
    if (!rl.allowed) {
        webot_error_t *e = webot_error_make(wr->p, "RATE_LIMITED",
            "Rate limit of %d requests per minute reached; retry in %d "
            "second%s.", rl.limit, rl.reset, rl.reset == 1 ? "" : "s");
        e->retry_after = rl.reset;
        record_reject(wr, "RATE_LIMITED");
        return webot_send_error(wr, e);
    }
    return OK;
}
