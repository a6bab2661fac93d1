/* webot_store_auth.h: SQL of identity and access: credential lookups for
 * the access gate (one round trip each), sign-in and its throttling,
 * sessions, API keys, and the usage events of refused requests. Core. */
#ifndef WEBOT_STORE_AUTH_H
#define WEBOT_STORE_AUTH_H

#include <apr_pools.h>
#include <apr_time.h>

#include "webot_store.h"
#include "webot_entitlement.h"
#include "webot_util.h"

/* Who a credential belongs to, with the account's entitlement. */
typedef struct webot_principal_t {
    /* API key */
    const char *key_id;
    const char *key_prefix;
    const char *scopes_csv;
    /* session */
    const char *session_id;
    const char *csrf_hash_hex;      /* sha256 of the CSRF token */
    const char *user_id;
    const char *email;
    const char *role;
    /* both */
    const char *hash_hex;           /* the stored credential hash */
    const char *account_id;
    const char *account_name;
    const char *account_created_at; /* RFC 3339 */
    int touch_due;                  /* API key: last_used_at is over a
                                     * minute old (webot_store_auth_touch_key) */
    webot_ent_t ent;
} webot_principal_t;

/* The live (not revoked) API key with this SHA-256, its account and the
 * entitlement; *out NULL when there is none. Reads only: when
 * (*out)->touch_due, the caller marks the key used with
 * webot_store_auth_touch_key. */
webot_dbrc_e webot_store_auth_key(webot_db_t *db, apr_pool_t *p,
                                  const unsigned char hash[WEBOT_SHA256_LEN],
                                  webot_principal_t **out);

/* The same for n keys in one statement (hashes as 64 lowercase hex
 * characters): out[i] is allocated in pools[i], NULL when key i is unknown
 * or revoked; tp holds the statement's rows. pools[i] may belong to another
 * thread's request if that thread does not use it meanwhile. */
webot_dbrc_e webot_store_auth_keys(webot_db_t *db, apr_pool_t *tp, int n,
                                   const char *const *hash_hex,
                                   apr_pool_t *const *pools,
                                   webot_principal_t **out);

/* Sets the key's last_used_at, at most once a minute (a guarded UPDATE,
 * asynchronous commit). Only a lost connection is an error. */
webot_dbrc_e webot_store_auth_touch_key(webot_db_t *db, apr_pool_t *p,
                                        const char *key_id);

/* The live session (not ended, within its idle and absolute expiry) with
 * this token hash; *out NULL when none. Slides its idle expiry to now +
 * idle_secs (capped by the absolute expiry) at most once a minute. */
webot_dbrc_e webot_store_auth_session(webot_db_t *db, apr_pool_t *p,
                                      const unsigned char hash[WEBOT_SHA256_LEN],
                                      int idle_secs, webot_principal_t **out);

/* --- sign-in ---------------------------------------------------------- */

typedef struct webot_login_state_t {
    int email_failures;             /* within the window */
    int ip_failures;
    int email_retry_after;          /* seconds until below the limit */
    int ip_retry_after;
    const char *user_id;            /* NULL: no such email */
    const char *account_id;
    const char *email;              /* as stored */
    const char *role;
    const char *password_hash;
} webot_login_state_t;

/* Failures for email (case-insensitive) and client ip within the last
 * window_secs, the seconds until each count falls below its limit, and the
 * user with that email. */
webot_dbrc_e webot_store_login_state(webot_db_t *db, apr_pool_t *p,
                                     const char *email, const char *ip,
                                     int window_secs, int email_limit,
                                     int ip_limit, webot_login_state_t *out);
webot_dbrc_e webot_store_login_failed(webot_db_t *db, apr_pool_t *p,
                                      const char *email, const char *ip);

/* Creates a session and clears the email's failures, in one transaction.
 * *expires_at and *idle_expires_at are returned as RFC 3339. */
webot_dbrc_e webot_store_session_create(webot_db_t *db, apr_pool_t *p,
    const char *session_id,
    const unsigned char token_hash[WEBOT_SHA256_LEN],
    const unsigned char csrf_hash[WEBOT_SHA256_LEN],
    const char *user_id, const char *account_id, const char *email,
    int idle_secs, int max_secs, const char **expires_at,
    const char **idle_expires_at);
webot_dbrc_e webot_store_session_end(webot_db_t *db, apr_pool_t *p,
                                     const char *session_id);

/* --- API keys ------------------------------------------------------------ */

typedef struct webot_key_row_t {
    const char *id;
    const char *name;
    const char *prefix;
    const char *scopes_csv;
    const char *created_at;         /* RFC 3339 */
    apr_time_t created_us;          /* for cursors */
    const char *last_used_at;       /* NULL: never */
    const char *revoked_at;         /* NULL: live */
} webot_key_row_t;

/* Keys of the account, newest first, strictly after (before_us, before_id)
 * when before_id is set; at most limit rows. */
webot_dbrc_e webot_store_keys_list(webot_db_t *db, apr_pool_t *p,
                                   const char *account_id, int limit,
                                   apr_time_t before_us,
                                   const char *before_id,
                                   webot_key_row_t **rows, int *n);
webot_dbrc_e webot_store_key_create(webot_db_t *db, apr_pool_t *p,
    const char *key_id, const char *account_id, const char *name,
    const unsigned char hash[WEBOT_SHA256_LEN], const char *prefix,
    const char *scopes_csv, const char *created_by, webot_key_row_t *out);
/* Revokes the account's key (idempotent); *found 0 when the account has no
 * key with that id. */
webot_dbrc_e webot_store_key_revoke(webot_db_t *db, apr_pool_t *p,
                                    const char *account_id,
                                    const char *key_id, int *found,
                                    webot_key_row_t *out);

/* --- usage events ------------------------------------------------------ */

/* Records a refused request (type request.rejected, the error code) with
 * an asynchronous commit: telemetry, not worth an fsync per refusal. */
webot_dbrc_e webot_store_usage_reject(webot_db_t *db, apr_pool_t *p,
                                      const char *account_id,
                                      const char *code);

#endif
