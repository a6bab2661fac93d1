/* mod_webot_account.c: the account context (me, entitlements), dashboard
 * sign-in and sign-out, and API key management. */
#include "mod_webot_auth.h"
#include "mod_webot_account.h"
#include "webot_store_auth.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_md5.h>

#define KEY_BITS        192         /* as webotctl key create */
#define LIST_DEFAULT    20
#define LIST_MAX        100

static const char *rfc_or_null(apr_pool_t *p, apr_time_t t)
{
    return t ? webot_time_rfc3339(p, t, 0) : NULL;
}

/* --- GET /me, GET /entitlements ------------------------------------------ */

/* Why this credential cannot use the Required routes beyond the account
 * context, or NULL when it can. */
static const char *access_message(webot_req_t *wr)
{
    const webot_auth_t *a = wr->auth;
    int key = a->method == WEBOT_AUTHN_API_KEY;
    unsigned need = key ? WEBOT_ACCESS_API : WEBOT_ACCESS_DASHBOARD;
    const char *path = key ? "api" : "dashboard";

    if (a->access & need) {
        return NULL;
    }
    if (!a->ent_usable) {
        return apr_psprintf(wr->p, "%s %s", a->ent_why ? a->ent_why
                            : "The account has no usable entitlement.",
                            key ? "API keys need a plan with api access."
                                : "Sessions need a plan with dashboard "
                                  "access.");
    }
    return apr_psprintf(wr->p, "The plan %s includes %s access only; %s "
                        "need a plan that includes %s.",
                        a->plan ? a->plan->id : "",
                        path[0] == 'a' ? "dashboard" : "api",
                        key ? "API keys" : "dashboard sessions", path);
}

/* The gate read everything these routes show: give the connection back
 * before rendering and writing (it is otherwise held until the request
 * pool goes, after logging). Not for in-process calls (MCP), whose
 * connection belongs to the outer request. */
static void done_with_db(webot_req_t *wr)
{
    if (!wr->capture) {
        webot_req_db_release(wr);
    }
}

int webot_h_me(webot_req_t *wr)
{
    const webot_auth_t *a = wr->auth;
    int limit = a->ent_usable ? a->monthly_jobs : 0;
    int remaining = limit - a->quota_used;
    json_t *body;

    done_with_db(wr);

    body = json_pack("{s:{s:s,s:s,s:s},s:{s:s,s:s?,s:s?,s:s?,s:s?},s:s?,"
                     "s:o,s:{s:s,s:s?,s:o,s:{s:i,s:i,s:i},s:s?}}",
        "account", "id", a->account_id, "name", a->account_name,
        "created_at", a->account_created_at,
        "auth", "method", a->method == WEBOT_AUTHN_API_KEY ? "api_key"
                                                           : "session",
        "key_id", a->key_id, "key_prefix", a->key_prefix,
        "user_id", a->user_id, "email", a->email,
        "role", a->role,
        "scopes", webot_scopes_json(a->scopes),
        "entitlement", "status", a->ent_status,
        "plan", a->plan ? a->plan->id : NULL,
        "access", webot_access_json(a->access),
        "quota", "limit", limit, "used", a->quota_used,
        "remaining", remaining < 0 ? 0 : remaining,
        "message", access_message(wr));
    if (!body) {
        return webot_fail(wr, "INTERNAL_ERROR", "The answer could not be "
                          "built.");
    }
    return webot_send_json(wr, HTTP_OK, webot_json_own(wr->p, body));
}

int webot_h_entitlements(webot_req_t *wr)
{
    const webot_auth_t *a = wr->auth;
    const webot_plan_t *pl = a->plan;
    json_t *body, *plan = json_null(), *period = json_null(),
           *limits = json_null();

    done_with_db(wr);

    if (pl) {
        plan = json_pack("{s:s,s:s,s:o}", "id", pl->id, "name", pl->name,
                         "access", webot_access_json(pl->access));
        limits = json_pack("{s:i,s:i,s:i,s:i,s:I}",
            "monthly_jobs", a->monthly_jobs,
            "max_active_jobs", a->max_active_jobs,
            "max_revisions", a->max_revisions,
            "rate_limit_per_minute", a->rate_limit_per_minute,
            "max_upload_bytes", (json_int_t)a->max_upload_bytes);
    }
    if (a->period_start) {
        period = json_pack("{s:s,s:s}",
                           "start", webot_time_rfc3339(wr->p,
                                                       a->period_start, 0),
                           "end", webot_time_rfc3339(wr->p, a->period_end,
                                                     0));
    }
    body = json_pack("{s:s,s:o,s:o,s:s?,s:o,s:o,s:s?,s:s?,s:s?}",
        "status", a->ent_status,
        "plan", plan,
        "access", webot_access_json(a->access),
        "source", a->ent_source,
        "current_period", period,
        "limits", limits,
        "expires_at", rfc_or_null(wr->p, a->ent_expires_at),
        "message", a->ent_usable ? NULL : a->ent_why,
        "updated_at", rfc_or_null(wr->p, a->ent_updated_at));
    if (!body) {
        return webot_fail(wr, "INTERNAL_ERROR", "The answer could not be "
                          "built.");
    }
    return webot_send_json(wr, HTTP_OK, webot_json_own(wr->p, body));
}

/* --- POST /auth/login, POST /auth/logout ----------------------------------- */

int webot_h_login(webot_req_t *wr)
{
    request_rec *r = wr->r;
    const char *email = webot_json_str(wr->body, "email");
    const char *password = webot_json_str(wr->body, "password");
    const char *ip = r->useragent_ip ? r->useragent_ip : "unknown";
    const char *sid, *token, *csrf, *expires, *idle_expires;
    unsigned char th[WEBOT_SHA256_LEN], ch[WEBOT_SHA256_LEN];
    webot_login_state_t st;
    webot_error_t *err = NULL;
    webot_db_t *db;
    webot_dbrc_e rc;
    json_t *body;
    int ok;

    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!email || !password) {
        return webot_fail(wr, "VALIDATION_ERROR", "email and password are "
                          "required.");
    }
    if (!(db = webot_req_db(wr, &err))) {
        return webot_send_error(wr, err);
    }
    rc = webot_store_login_state(db, wr->p, email, ip,
                                 WEBOT_LOGIN_WINDOW_SECS,
                                 WEBOT_LOGIN_EMAIL_LIMIT,
                                 WEBOT_LOGIN_IP_LIMIT, &st);
    if (rc != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    if (st.email_failures >= WEBOT_LOGIN_EMAIL_LIMIT
        || st.ip_failures >= WEBOT_LOGIN_IP_LIMIT) {
        int wait = 0;
        webot_error_t *e;
        if (st.email_failures >= WEBOT_LOGIN_EMAIL_LIMIT) {
            wait = st.email_retry_after;
        }
        if (st.ip_failures >= WEBOT_LOGIN_IP_LIMIT
            && st.ip_retry_after > wait) {
            wait = st.ip_retry_after;
        }
        if (wait < 1) {
            wait = 1;
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(30120)
                      "sign-in refused: too many failures for this email "
                      "or client address (request_id %s)", wr->request_id);
        e = webot_error_make(wr->p, "RATE_LIMITED", "Too many failed "
                             "sign-ins for this email or from this address; "
                             "try again in %d seconds.", wait);
        e->retry_after = wait;
        return webot_send_error(wr, e);
    }
    /* an unknown email costs the same bcrypt as a wrong password */
    ok = apr_password_validate(password, st.password_hash
                                         ? st.password_hash
                                         : webot_auth_dummy_hash())
         == APR_SUCCESS && st.user_id;
    if (!ok) {
        int n = st.email_failures + 1;
        rc = webot_store_login_failed(db, wr->p, email, ip);
        if (rc != WEBOT_DB_OK) {
            return webot_send_error(wr, webot_db_error(wr->p, rc));
        }
        if (n >= 3) {
            /* slowed before refused: 200 ms more per failure, at most 1 s */
            apr_sleep(apr_time_from_msec(n - 2 > 5 ? 1000 : 200 * (n - 2)));
        }
        return webot_fail(wr, "UNAUTHORIZED", "The email or password is not "
                          "correct.");
    }

    sid = webot_id_new(wr->p, "ses_");
    token = webot_token_new(wr->p, "wbs_", 256);
    csrf = webot_token_new(wr->p, "wbc_", 192);
    if (!sid || !token || !csrf) {
        return webot_fail(wr, "INTERNAL_ERROR", "The session could not be "
                          "created.");
    }
    webot_sha256(token, strlen(token), th);
    webot_sha256(csrf, strlen(csrf), ch);
    rc = webot_store_session_create(db, wr->p, sid, th, ch, st.user_id,
                                    st.account_id, email,
                                    webot_session_idle_secs(),
                                    webot_session_max_secs(), &expires,
                                    &idle_expires);
    if (rc != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    webot_session_cookie(wr, token, webot_session_max_secs());
    body = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s},s:s}",
        "csrf_token", csrf, "expires_at", expires,
        "idle_expires_at", idle_expires,
        "user", "id", st.user_id, "email", st.email, "role", st.role,
        "account_id", st.account_id);
    if (!body) {
        return webot_fail(wr, "INTERNAL_ERROR", "The answer could not be "
                          "built.");
    }
    return webot_send_json(wr, HTTP_OK, webot_json_own(wr->p, body));
}

int webot_h_logout(webot_req_t *wr)
{
    webot_dbrc_e rc = webot_store_session_end(wr->db, wr->p,
                                              wr->auth->session_id);
    if (rc != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    webot_session_cookie(wr, NULL, 0);
    return webot_send_bytes(wr, HTTP_NO_CONTENT, "application/json", "", 0,
                            NULL);
}

/* --- API keys ---------------------------------------------------------------- */

static json_t *key_json(apr_pool_t *p, const webot_key_row_t *k, int full)
{
    const char *bad = NULL;
    unsigned scopes = webot_scopes_parse(p, k->scopes_csv, &bad);
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:s}", "id", k->id,
                          "name", k->name, "prefix", k->prefix,
                          "scopes", webot_scopes_json(scopes),
                          "created_at", k->created_at);
    if (o && full) {
        json_object_set_new(o, "last_used_at", k->last_used_at
                            ? json_string(k->last_used_at) : json_null());
        json_object_set_new(o, "revoked_at", k->revoked_at
                            ? json_string(k->revoked_at) : json_null());
    }
    return o;
}

/* Cursor: b64url("<created_us>:<key id>") "." b64url(HMAC-SHA256 of the
 * account id and that text, first 16 bytes): opaque, bound to the account,
 * tamper-proof. */
static const char *cursor_mac(webot_req_t *wr, const char *payload)
{
    unsigned char mac[WEBOT_SHA256_LEN];
    const char *msg = apr_pstrcat(wr->p, "api-keys\n", wr->auth->account_id,
                                  "\n", payload, NULL);
    if (webot_hmac_sha256(wr->sc->secret, wr->sc->secret_len, msg,
                          strlen(msg), mac)) {
        return NULL;
    }
    return webot_b64url(wr->p, mac, 16);
}

static const char *cursor_make(webot_req_t *wr, const webot_key_row_t *k)
{
    const char *payload = apr_psprintf(wr->p, "%" APR_TIME_T_FMT ":%s",
                                       k->created_us, k->id);
    const char *mac = cursor_mac(wr, payload);
    return mac ? apr_pstrcat(wr->p, webot_b64url(wr->p,
                             (const unsigned char *)payload,
                             strlen(payload)), ".", mac, NULL) : NULL;
}

static int cursor_parse(webot_req_t *wr, const char *cursor,
                        apr_time_t *us, const char **id)
{
    const char *dot = strchr(cursor, '.'), *mac, *c;
    unsigned char *raw;
    long n;
    char *payload, *colon, *end;
    apr_int64_t v;

    if (!dot || strlen(cursor) > 512) {
        return -1;
    }
    n = webot_unb64url(wr->p, apr_pstrmemdup(wr->p, cursor, dot - cursor),
                       &raw);
    if (n <= 0 || n > 200) {
        return -1;
    }
    payload = apr_pstrmemdup(wr->p, (const char *)raw, (apr_size_t)n);
    if (strlen(payload) != (apr_size_t)n
        || !(mac = cursor_mac(wr, payload))
        || !webot_ct_equal(mac, strlen(mac), dot + 1, strlen(dot + 1))) {
        return -1;
    }
    if (!(colon = strchr(payload, ':'))) {
        return -1;
    }
    *colon = '\0';
    v = apr_strtoi64(payload, &end, 10);
    if (*end || end == payload || v <= 0) {
        return -1;
    }
    for (c = colon + 1; *c; c++) {
        if (!apr_isalnum(*c) && *c != '_') {
            return -1;
        }
    }
    *us = (apr_time_t)v;
    *id = colon + 1;
    return **id ? 0 : -1;
}

int webot_h_keys_list(webot_req_t *wr)
{
    apr_table_t *q = webot_query(wr);
    const char *lim = q ? apr_table_get(q, "limit") : NULL;
    const char *cur = q ? apr_table_get(q, "cursor") : NULL;
    const char *before_id = NULL;
    apr_time_t before_us = 0;
    long long limit = LIST_DEFAULT;
    webot_key_row_t *rows;
    json_t *data, *body;
    webot_dbrc_e rc;
    int n, i, more;

    if (lim && webot_parse_int(lim, 1, LIST_MAX, &limit)) {
        webot_error_t *e = webot_error_make(wr->p, "BAD_REQUEST",
            "limit must be an integer from 1 to %d.", LIST_MAX);
        e->param = "limit";
        return webot_send_error(wr, e);
    }
    if (cur && cursor_parse(wr, cur, &before_us, &before_id)) {
        webot_error_t *e = webot_error_make(wr->p, "BAD_REQUEST",
            "cursor is not a next_cursor of this list.");
        e->param = "cursor";
        return webot_send_error(wr, e);
    }
    rc = webot_store_keys_list(wr->db, wr->p, wr->auth->account_id,
                               (int)limit + 1, before_us, before_id, &rows,
                               &n);
    if (rc != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    more = n > limit;
    if (more) {
        n = (int)limit;
    }
    data = json_array();
    for (i = 0; i < n; i++) {
        json_array_append_new(data, key_json(wr->p, &rows[i], 1));
    }
    body = json_pack("{s:o,s:b,s:s?}", "data", data, "has_more", more,
                     "next_cursor", more ? cursor_make(wr, &rows[n - 1])
                                         : NULL);
    return webot_send_json(wr, HTTP_OK, webot_json_own(wr->p, body));
}

int webot_h_key_create(webot_req_t *wr)
{
    const char *name = webot_json_str(wr->body, "name");
    json_t *sc = json_object_get(wr->body, "scopes");
    unsigned scopes = WEBOT_SCOPE_ALL;
    const char *id, *key;
    unsigned char hash[WEBOT_SHA256_LEN];
    webot_key_row_t row;
    webot_dbrc_e rc;
    json_t *body;

    if (json_is_array(sc)) {
        size_t i;
        json_t *v;
        scopes = 0;
        json_array_foreach(sc, i, v) {
            scopes |= webot_scope_bit(json_string_value(v));
        }
    }
    if (!name || !scopes) {
        return webot_fail(wr, "VALIDATION_ERROR", "name and scopes are not "
                          "valid.");
    }
    id = webot_id_new(wr->p, "key_");
    key = webot_token_new(wr->p, "wbt_", KEY_BITS);
    if (!id || !key) {
        return webot_fail(wr, "INTERNAL_ERROR", "The key could not be "
                          "created.");
    }
    webot_sha256(key, strlen(key), hash);
    rc = webot_store_key_create(wr->db, wr->p, id, wr->auth->account_id, name,
                                hash, webot_key_display(wr->p, key),
                                webot_scopes_csv(wr->p, scopes),
                                wr->auth->user_id, &row);
    if (rc != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, wr->r, APLOGNO(30130)
                  "API key %s (%s) created for %s by %s", row.id, row.prefix,
                  wr->auth->account_id, wr->auth->user_id);
    body = key_json(wr->p, &row, 0);
    json_object_set_new(body, "key", json_string(key));
    return webot_send_json(wr, HTTP_CREATED, webot_json_own(wr->p, body));
}

int webot_h_key_revoke(webot_req_t *wr)
{
    webot_key_row_t row;
    webot_dbrc_e rc;
    int found;

    rc = webot_store_key_revoke(wr->db, wr->p, wr->auth->account_id, wr->id,
                                &found, &row);
    if (rc != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    if (!found) {
        return webot_fail(wr, "NOT_FOUND", "This account has no API key %s.",
                          wr->id);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, wr->r, APLOGNO(30131)
                  "API key %s of %s revoked by %s", row.id,
                  wr->auth->account_id, wr->auth->user_id);
    return webot_send_json(wr, HTTP_OK,
                           webot_json_own(wr->p, key_json(wr->p, &row, 1)));
}
