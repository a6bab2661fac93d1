/* webot_store_auth.c: SQL of identity and access (see webot_store_auth.h). */
#include "webot_store_auth.h"

#include <apr_strings.h>
#include <string.h>

/* Epoch microseconds and RFC 3339 (whole seconds, UTC) of a timestamptz.
 * date_part (float8) instead of extract (numeric): cheaper, and exact
 * here: the microsecond count is below 2^53 and ::bigint rounds to the
 * nearest integer, which undoes the division by 1e6. */
#define US(x)  "(date_part('epoch', " x ") * 1000000)::bigint"
#define RFC(x) "to_char(" x " AT TIME ZONE 'UTC', " \
               "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The account and entitlement columns of both credential lookups (17
 * columns, in the order read by read_tail), and their joins; the
 * credential's table is aliased c and has account_id. Read-only and plain:
 * times as epoch microseconds, the quota period computed in C
 * (webot_quota_period), the latest quota row that has begun read alongside
 * (it is the current period's when its start matches). */
#define TAIL_COLS \
    "a.id, a.name, " US("a.created_at") ", " \
    "e.plan_id, e.status, e.source, " \
    US("e.expires_at") ", " US("e.past_due_since") ", " \
    US("e.updated_at") ", " US("e.period_start") ", " US("e.period_end") ", " \
    "e.monthly_jobs, e.max_active_jobs, e.rate_limit_per_minute, " \
    US("q.period_start") ", q.used, " US("now()") " "
#define TAIL_NCOLS 17
#define TAIL_JOINS \
    "JOIN accounts a ON a.id = c.account_id " \
    "LEFT JOIN entitlements e ON e.account_id = a.id " \
    "LEFT JOIN LATERAL (SELECT period_start, used FROM quota_periods" \
    "  WHERE account_id = a.id AND period_start <= now()" \
    "  ORDER BY period_start DESC LIMIT 1) q ON true "

#define AUTHKEY_SELECT \
    "SELECT c.id, c.prefix, array_to_string(c.scopes, ','),"   \
    " encode(c.key_hash, 'hex'),"                               \
    " (c.last_used_at IS NULL"                                  \
    "  OR c.last_used_at < now() - interval '1 minute'), " TAIL_COLS \
    "FROM api_keys c " TAIL_JOINS
#define AUTHKEY_NCOLS (5 + TAIL_NCOLS)

static const webot_stmt_t ST_AUTH_KEY = { "webot_auth_key",
    AUTHKEY_SELECT
    "WHERE c.key_hash = decode(%s, 'hex') AND c.revoked_at IS NULL" };

/* The same for many keys at once: a comma-separated list of hashes in hex
 * (webot_store_auth_keys); one row per live key found, in no order. */
static const webot_stmt_t ST_AUTH_KEYS = { "webot_auth_keys",
    AUTHKEY_SELECT "WHERE c.key_hash = ANY (ARRAY(SELECT decode(h, 'hex')"
    " FROM unnest(string_to_array(%s, ',')) h)) AND c.revoked_at IS NULL" };

/* At most once a minute per key; concurrent requests skip a row another
 * one is updating; an asynchronous commit (no fsync wait on the request
 * path, a lost last_used_at on a crash is harmless). */
static const webot_stmt_t ST_TOUCH_KEY = { "webot_touch_key",
    "WITH s AS (SELECT set_config('synchronous_commit', 'off', true)) "
    "UPDATE api_keys SET last_used_at = now() FROM s WHERE id ="
    " (SELECT id FROM api_keys WHERE id = %s AND (last_used_at IS NULL"
    "  OR last_used_at < now() - interval '1 minute')"
    "  FOR UPDATE SKIP LOCKED)" };

static const webot_stmt_t ST_AUTH_SESSION = { "webot_auth_session",
    "SELECT c.id, encode(c.csrf_hash, 'hex'), encode(c.token_hash, 'hex'),"
    " u.id, u.email, u.role,"
    " c.last_seen_at < now() - interval '1 minute', " TAIL_COLS
    "FROM sessions c JOIN users u ON u.id = c.user_id " TAIL_JOINS
    "WHERE c.token_hash = decode(%s, 'hex') AND c.ended_at IS NULL"
    " AND c.expires_at > now() AND c.idle_expires_at > now()" };

/* Slides the idle expiry, at most once a minute per session. */
static const webot_stmt_t ST_TOUCH_SESSION = { "webot_touch_session",
    "WITH s AS (SELECT set_config('synchronous_commit', 'off', true)) "
    "UPDATE sessions SET last_seen_at = now(),"
    " idle_expires_at = least(expires_at,"
    "  now() + make_interval(secs => %s::int)) FROM s WHERE id ="
    " (SELECT id FROM sessions WHERE id = %s"
    "  AND last_seen_at < now() - interval '1 minute'"
    "  FOR UPDATE SKIP LOCKED)" };

static apr_time_t us_of(const char *v)
{
    return v ? (apr_time_t)apr_atoi64(v) : 0;
}

static int int_or(const char *v, int dflt)
{
    return v ? atoi(v) : dflt;
}

/* Row i's value of column j, copied into p when the rows live elsewhere
 * (a batch read by another request's thread). */
static const char *col(apr_pool_t *p, const webot_rows_t *rows, int i, int j,
                       int copy)
{
    const char *v = WEBOT_ROW(rows, i, j);
    return v && copy ? apr_pstrdup(p, v) : v;
}

static void read_tail(apr_pool_t *p, webot_principal_t *pr,
                      webot_rows_t *rows, int i, int col0, int copy)
{
    webot_ent_t *e = &pr->ent;
    apr_time_t qstart;
#define C(k) col(p, rows, i, col0 + (k), copy)
#define N(k) WEBOT_ROW(rows, i, col0 + (k))
    pr->account_id = C(0);
    pr->account_name = C(1);
    pr->account_created_at = webot_time_rfc3339(p, us_of(N(2)), 0);
    e->present = N(4) != NULL;
    e->plan_id = C(3);
    e->status = C(4);
    e->source = C(5);
    e->expires_at = us_of(N(6));
    e->past_due_since = us_of(N(7));
    e->updated_at = us_of(N(8));
    e->ovr_monthly_jobs = int_or(N(11), -1);
    e->ovr_max_active_jobs = int_or(N(12), -1);
    e->ovr_rate_limit = int_or(N(13), -1);
    qstart = us_of(N(14));
    e->now = us_of(N(16));
    if (e->present) {
        webot_quota_period(e->source, us_of(N(9)), us_of(N(10)), e->now,
                           &e->period_start, &e->period_end);
        /* the latest quota row is this period's, or this period has none */
        e->quota_used = N(15) && qstart == e->period_start ? atoi(N(15)) : 0;
    }
#undef C
#undef N
}

/* The principal of row i of an API key lookup, allocated in p. */
static webot_principal_t *read_principal_key(apr_pool_t *p,
                                             webot_rows_t *rows, int i,
                                             int copy)
{
    webot_principal_t *pr = apr_pcalloc(p, sizeof(*pr));
    const char *due = WEBOT_ROW(rows, i, 4);
    pr->key_id = col(p, rows, i, 0, copy);
    pr->key_prefix = col(p, rows, i, 1, copy);
    pr->scopes_csv = col(p, rows, i, 2, copy);
    pr->hash_hex = col(p, rows, i, 3, copy);
    pr->touch_due = due && due[0] == 't';
    read_tail(p, pr, rows, i, 5, copy);
    return pr;
}

webot_dbrc_e webot_store_auth_key(webot_db_t *db, apr_pool_t *p,
                                  const unsigned char hash[WEBOT_SHA256_LEN],
                                  webot_principal_t **out)
{
    const char *args[1];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    *out = NULL;
    args[0] = webot_hex(p, hash, WEBOT_SHA256_LEN);
    rc = webot_db_select(db, p, &ST_AUTH_KEY, &rows, 1, args);
    if (rc != WEBOT_DB_OK || rows->n < 1 || rows->cols != AUTHKEY_NCOLS) {
        return rc;
    }
    *out = read_principal_key(p, rows, 0, 0);
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_store_auth_keys(webot_db_t *db, apr_pool_t *tp, int n,
                                   const char *const *hash_hex,
                                   apr_pool_t *const *pools,
                                   webot_principal_t **out)
{
    const char *args[1];
    webot_rows_t *rows;
    webot_dbrc_e rc;
    apr_size_t len = 0;
    char *list, *w;
    int i, j;

    for (i = 0; i < n; i++) {
        out[i] = NULL;
        len += strlen(hash_hex[i]) + 1;
    }
    if (n < 1) {
        return WEBOT_DB_OK;
    }
    w = list = apr_palloc(tp, len);
    for (i = 0; i < n; i++) {
        apr_size_t k = strlen(hash_hex[i]);
        memcpy(w, hash_hex[i], k);
        w += k;
        *w++ = i + 1 < n ? ',' : '\0';
    }
    args[0] = list;
    rc = webot_db_select(db, tp, &ST_AUTH_KEYS, &rows, 1, args);
    if (rc != WEBOT_DB_OK || rows->cols != AUTHKEY_NCOLS) {
        return rc;
    }
    /* a hash appears at most once among live keys (key_hash is UNIQUE); a
     * key asked for twice in the batch gets a copy each */
    for (j = 0; j < rows->n; j++) {
        const char *h = WEBOT_ROW(rows, j, 3);
        for (i = 0; h && i < n; i++) {
            if (!out[i] && !strcmp(h, hash_hex[i])) {
                out[i] = read_principal_key(pools[i], rows, j, 1);
            }
        }
    }
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_store_auth_touch_key(webot_db_t *db, apr_pool_t *p,
                                        const char *key_id)
{
    const char *args[1] = { key_id };
    webot_dbrc_e rc = webot_db_exec(db, p, &ST_TOUCH_KEY, NULL, 1, args);
    /* bookkeeping: only a lost connection fails the request */
    return rc == WEBOT_DB_DOWN ? rc : WEBOT_DB_OK;
}

webot_dbrc_e webot_store_auth_session(webot_db_t *db, apr_pool_t *p,
                                      const unsigned char hash[WEBOT_SHA256_LEN],
                                      int idle_secs, webot_principal_t **out)
{
    const char *args[1];
    webot_rows_t *rows;
    webot_principal_t *pr;
    webot_dbrc_e rc;

    *out = NULL;
    args[0] = webot_hex(p, hash, WEBOT_SHA256_LEN);
    rc = webot_db_select(db, p, &ST_AUTH_SESSION, &rows, 1, args);
    if (rc != WEBOT_DB_OK || rows->n < 1 || rows->cols != 7 + TAIL_NCOLS) {
        return rc;
    }
    pr = apr_pcalloc(p, sizeof(*pr));
    pr->session_id = WEBOT_ROW(rows, 0, 0);
    pr->csrf_hash_hex = WEBOT_ROW(rows, 0, 1);
    pr->hash_hex = WEBOT_ROW(rows, 0, 2);
    pr->user_id = WEBOT_ROW(rows, 0, 3);
    pr->email = WEBOT_ROW(rows, 0, 4);
    pr->role = WEBOT_ROW(rows, 0, 5);
    read_tail(p, pr, rows, 0, 7, 0);
    if (WEBOT_ROW(rows, 0, 6) && WEBOT_ROW(rows, 0, 6)[0] == 't') {
        const char *targs[2];
        targs[0] = apr_itoa(p, idle_secs);
        targs[1] = pr->session_id;
        if (webot_db_exec(db, p, &ST_TOUCH_SESSION, NULL, 2, targs)
            == WEBOT_DB_DOWN) {
            return WEBOT_DB_DOWN;
        }
    }
    *out = pr;
    return WEBOT_DB_OK;
}

/* --- sign-in -------------------------------------------------------- */

/* The failures of the window and, for each of email and address, when
 * the limit-th most recent one leaves the window (the moment the count
 * falls below the limit). Counts are bounded: refused attempts are never
 * recorded, so a window holds about `limit` rows per email or address. */
static const webot_stmt_t ST_LOGIN_STATE = { "webot_login_state",
    "WITH prm AS (SELECT lower(%s) AS email, %s::text AS ip,"
    "  make_interval(secs => %s::int) AS win, %s::int AS el,"
    "  %s::int AS il),"
    " fe AS (SELECT count(*) AS n,"
    "  (array_agg(f.created_at ORDER BY f.created_at DESC))[prm.el] AS nth"
    "  FROM prm JOIN login_failures f ON f.email = prm.email"
    "  AND f.created_at > now() - prm.win GROUP BY prm.el),"
    " fi AS (SELECT count(*) AS n,"
    "  (array_agg(f.created_at ORDER BY f.created_at DESC))[prm.il] AS nth"
    "  FROM prm JOIN login_failures f ON f.client_ip = prm.ip"
    "  AND f.created_at > now() - prm.win GROUP BY prm.il) "
    "SELECT coalesce((SELECT n FROM fe), 0), coalesce((SELECT n FROM fi), 0),"
    " (SELECT greatest(1, ceil(extract(epoch FROM fe.nth + prm.win"
    "   - now())))::int FROM fe, prm),"
    " (SELECT greatest(1, ceil(extract(epoch FROM fi.nth + prm.win"
    "   - now())))::int FROM fi, prm),"
    " u.id, u.account_id, u.email, u.role, u.password_hash "
    "FROM prm LEFT JOIN users u ON lower(u.email) = prm.email" };

static const webot_stmt_t ST_LOGIN_FAILED = { "webot_login_failed",
    "INSERT INTO login_failures (email, client_ip) VALUES (lower(%s), %s)" };

webot_dbrc_e webot_store_login_state(webot_db_t *db, apr_pool_t *p,
                                     const char *email, const char *ip,
                                     int window_secs, int email_limit,
                                     int ip_limit, webot_login_state_t *out)
{
    const char *args[5];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    memset(out, 0, sizeof(*out));
    args[0] = email;
    args[1] = ip;
    args[2] = apr_itoa(p, window_secs);
    args[3] = apr_itoa(p, email_limit);
    args[4] = apr_itoa(p, ip_limit);
    rc = webot_db_select(db, p, &ST_LOGIN_STATE, &rows, 5, args);
    if (rc != WEBOT_DB_OK) {
        return rc;
    }
    if (rows->n < 1 || rows->cols != 9) {
        return WEBOT_DB_ERROR;
    }
    out->email_failures = int_or(WEBOT_ROW(rows, 0, 0), 0);
    out->ip_failures = int_or(WEBOT_ROW(rows, 0, 1), 0);
    out->email_retry_after = int_or(WEBOT_ROW(rows, 0, 2), 0);
    out->ip_retry_after = int_or(WEBOT_ROW(rows, 0, 3), 0);
    out->user_id = WEBOT_ROW(rows, 0, 4);
    out->account_id = WEBOT_ROW(rows, 0, 5);
    out->email = WEBOT_ROW(rows, 0, 6);
    out->role = WEBOT_ROW(rows, 0, 7);
    out->password_hash = WEBOT_ROW(rows, 0, 8);
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_store_login_failed(webot_db_t *db, apr_pool_t *p,
                                      const char *email, const char *ip)
{
    const char *args[2] = { email, ip };
    return webot_db_exec(db, p, &ST_LOGIN_FAILED, NULL, 2, args);
}

/* One statement, so one transaction: the session, the reset of the
 * email's failure count, and the purge of this user's long-dead sessions
 * (which keeps the table from growing without a sweeper). */
static const webot_stmt_t ST_SESSION_CREATE = { "webot_session_create",
    "WITH f AS (DELETE FROM login_failures WHERE email = lower(%s)),"
    " old AS (DELETE FROM sessions WHERE user_id = %s"
    "  AND (expires_at < now() - interval '1 day'"
    "   OR idle_expires_at < now() - interval '1 day'"
    "   OR ended_at < now() - interval '1 day')) "
    "INSERT INTO sessions (id, token_hash, csrf_hash, user_id, account_id,"
    " idle_expires_at, expires_at) VALUES (%s, decode(%s, 'hex'),"
    " decode(%s, 'hex'), %s, %s,"
    " now() + make_interval(secs => least(%s::int, %s::int)),"
    " now() + make_interval(secs => %s::int)) "
    "RETURNING " RFC("expires_at") ", " RFC("idle_expires_at") };

static const webot_stmt_t ST_SESSION_END = { "webot_session_end",
    "UPDATE sessions SET ended_at = now() WHERE id = %s"
    " AND ended_at IS NULL" };

webot_dbrc_e webot_store_session_create(webot_db_t *db, apr_pool_t *p,
    const char *session_id,
    const unsigned char token_hash[WEBOT_SHA256_LEN],
    const unsigned char csrf_hash[WEBOT_SHA256_LEN],
    const char *user_id, const char *account_id, const char *email,
    int idle_secs, int max_secs, const char **expires_at,
    const char **idle_expires_at)
{
    const char *args[10];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    args[0] = email;
    args[1] = user_id;
    args[2] = session_id;
    args[3] = webot_hex(p, token_hash, WEBOT_SHA256_LEN);
    args[4] = webot_hex(p, csrf_hash, WEBOT_SHA256_LEN);
    args[5] = user_id;
    args[6] = account_id;
    args[7] = apr_itoa(p, idle_secs);
    args[8] = apr_itoa(p, max_secs);
    args[9] = apr_itoa(p, max_secs);
    rc = webot_db_select(db, p, &ST_SESSION_CREATE, &rows, 10, args);
    if (rc != WEBOT_DB_OK) {
        return rc;
    }
    if (rows->n < 1) {
        return WEBOT_DB_ERROR;
    }
    *expires_at = WEBOT_ROW(rows, 0, 0);
    *idle_expires_at = WEBOT_ROW(rows, 0, 1);
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_store_session_end(webot_db_t *db, apr_pool_t *p,
                                     const char *session_id)
{
    const char *args[1] = { session_id };
    return webot_db_exec(db, p, &ST_SESSION_END, NULL, 1, args);
}

/* --- API keys --------------------------------------------------------- */

#define KEY_COLS \
    "id, name, prefix, array_to_string(scopes, ','), " RFC("created_at") \
    ", " US("created_at") ", " RFC("last_used_at") ", " RFC("revoked_at")

static const webot_stmt_t ST_KEYS_LIST = { "webot_keys_list",
    "SELECT " KEY_COLS " FROM api_keys WHERE account_id = %s"
    " AND (%s::timestamptz IS NULL"
    "  OR (created_at, id) < (%s::timestamptz, %s::text))"
    " ORDER BY created_at DESC, id DESC LIMIT %s::int" };

static const webot_stmt_t ST_KEY_CREATE = { "webot_key_create",
    "INSERT INTO api_keys (id, account_id, name, key_hash, prefix, scopes,"
    " created_by) VALUES (%s, %s, %s, decode(%s, 'hex'), %s,"
    " string_to_array(%s, ','), %s) RETURNING " KEY_COLS };

static const webot_stmt_t ST_KEY_REVOKE = { "webot_key_revoke",
    "UPDATE api_keys SET revoked_at = now() WHERE id = %s"
    " AND account_id = %s AND revoked_at IS NULL RETURNING " KEY_COLS };

static const webot_stmt_t ST_KEY_GET = { "webot_key_get",
    "SELECT " KEY_COLS " FROM api_keys WHERE id = %s AND account_id = %s" };

static void read_key(webot_rows_t *rows, int i, webot_key_row_t *k)
{
    k->id = WEBOT_ROW(rows, i, 0);
    k->name = WEBOT_ROW(rows, i, 1);
    k->prefix = WEBOT_ROW(rows, i, 2);
    k->scopes_csv = WEBOT_ROW(rows, i, 3);
    k->created_at = WEBOT_ROW(rows, i, 4);
    k->created_us = us_of(WEBOT_ROW(rows, i, 5));
    k->last_used_at = WEBOT_ROW(rows, i, 6);
    k->revoked_at = WEBOT_ROW(rows, i, 7);
}

webot_dbrc_e webot_store_keys_list(webot_db_t *db, apr_pool_t *p,
                                   const char *account_id, int limit,
                                   apr_time_t before_us,
                                   const char *before_id,
                                   webot_key_row_t **out, int *n)
{
    const char *args[5];
    webot_rows_t *rows;
    webot_dbrc_e rc;
    int i;

    args[0] = account_id;
    args[1] = before_id ? webot_time_rfc3339(p, before_us, 1) : NULL;
    args[2] = args[1];
    args[3] = before_id;
    args[4] = apr_itoa(p, limit);
    rc = webot_db_select(db, p, &ST_KEYS_LIST, &rows, 5, args);
    if (rc != WEBOT_DB_OK) {
        return rc;
    }
    *n = rows->n;
    *out = apr_pcalloc(p, sizeof(**out) * (apr_size_t)(rows->n + 1));
    for (i = 0; i < rows->n; i++) {
        read_key(rows, i, &(*out)[i]);
    }
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_store_key_create(webot_db_t *db, apr_pool_t *p,
    const char *key_id, const char *account_id, const char *name,
    const unsigned char hash[WEBOT_SHA256_LEN], const char *prefix,
    const char *scopes_csv, const char *created_by, webot_key_row_t *out)
{
    const char *args[7];
    webot_rows_t *rows;
    webot_dbrc_e rc;

    args[0] = key_id;
    args[1] = account_id;
    args[2] = name;
    args[3] = webot_hex(p, hash, WEBOT_SHA256_LEN);
    args[4] = prefix;
    args[5] = scopes_csv;
    args[6] = created_by;
    rc = webot_db_select(db, p, &ST_KEY_CREATE, &rows, 7, args);
    if (rc != WEBOT_DB_OK) {
        return rc;
    }
    if (rows->n < 1) {
        return WEBOT_DB_ERROR;
    }
    read_key(rows, 0, out);
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_store_key_revoke(webot_db_t *db, apr_pool_t *p,
                                    const char *account_id,
                                    const char *key_id, int *found,
                                    webot_key_row_t *out)
{
    const char *args[2] = { key_id, account_id };
    webot_rows_t *rows;
    webot_dbrc_e rc;

    *found = 0;
    rc = webot_db_select(db, p, &ST_KEY_REVOKE, &rows, 2, args);
    if (rc == WEBOT_DB_OK && rows->n == 0) {
        /* already revoked (a safe retry), or not this account's key */
        rc = webot_db_select(db, p, &ST_KEY_GET, &rows, 2, args);
    }
    if (rc == WEBOT_DB_OK && rows->n > 0) {
        *found = 1;
        read_key(rows, 0, out);
    }
    return rc;
}

/* --- usage events ------------------------------------------------------ */

static const webot_stmt_t ST_USAGE_REJECT = { "webot_usage_reject",
    "WITH s AS (SELECT set_config('synchronous_commit', 'off', true)) "
    "INSERT INTO usage_events (id, account_id, type, code)"
    " SELECT %s, %s, 'request.rejected', %s FROM s" };

webot_dbrc_e webot_store_usage_reject(webot_db_t *db, apr_pool_t *p,
                                      const char *account_id,
                                      const char *code)
{
    const char *args[3];
    args[0] = webot_id_new(p, "ue_");
    args[1] = account_id;
    args[2] = code;
    if (!args[0]) {
        return WEBOT_DB_ERROR;
    }
    return webot_db_exec(db, p, &ST_USAGE_REJECT, NULL, 3, args);
}
