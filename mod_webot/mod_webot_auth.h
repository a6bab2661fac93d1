/* mod_webot_auth.h: internals shared by the identity glue files
 * (mod_webot_auth.c: the gate, sessions, settings; mod_webot_ratelimit.c:
 * the per-minute limiter; mod_webot_account.c: the account routes). */
#ifndef MOD_WEBOT_AUTH_H
#define MOD_WEBOT_AUTH_H

#include "mod_webot.h"

#define WEBOT_SESSION_COOKIE      "webot_session"
#define WEBOT_SESSION_IDLE_DEFAULT 1800          /* 30 minutes */
#define WEBOT_SESSION_MAX_DEFAULT  43200         /* 12 hours */

/* Sign-in throttling (contract section 2). */
#define WEBOT_LOGIN_WINDOW_SECS   900            /* 15 minutes */
#define WEBOT_LOGIN_EMAIL_LIMIT   5              /* the 6th is refused */
#define WEBOT_LOGIN_IP_LIMIT      50

/* Effective session settings (WebotSessionIdleTimeout / Lifetime). */
int webot_session_idle_secs(void);
int webot_session_max_secs(void);

/* A bcrypt hash of a random password, made at start-up with the cost
 * webotctl uses, verified against for unknown emails so that they take the
 * time a wrong password takes. */
const char *webot_auth_dummy_hash(void);

/* Set-Cookie for the session cookie (HttpOnly, SameSite=Strict, Path=/,
 * Secure over TLS); token NULL clears it. */
void webot_session_cookie(webot_req_t *wr, const char *token, int max_age);

/* --- mod_webot_ratelimit.c ------------------------------------------------ */

typedef struct webot_rl_t {
    int limit;                      /* requests per minute */
    int remaining;                  /* after this request */
    int reset;                      /* seconds until the window ends */
    int allowed;                    /* take: the request fits */
} webot_rl_t;

/* Counts one request (take = 1) against id's current one-minute window, or
 * only reads it (take = 0). Shared by all processes of the host through
 * mod_socache (under a global mutex); per process when no provider is
 * available. Never fails closed: a broken cache lets requests through. */
void webot_ratelimit_take(request_rec *r, const char *id, int limit,
                          int take, webot_rl_t *out);
/* RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-
 * headers) on the answer, error or not. */
void webot_ratelimit_headers(request_rec *r, const webot_rl_t *rl);

void webot_ratelimit_pre_config(apr_pool_t *pconf);
int webot_ratelimit_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                server_rec *s);
void webot_ratelimit_child_init(apr_pool_t *p, server_rec *s);
const char *webot_ratelimit_set_cache(cmd_parms *cmd, const char *arg);

#endif
