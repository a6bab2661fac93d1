/* webot_cursor.c: HMAC-bound opaque list cursors (see webot_cursor.h). */
#include "webot_cursor.h"
#include "webot_util.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <string.h>

#define MAC_LEN 16
#define VERSION "c1"

/* The MAC input: a label, the account, the scope and the payload, each
 * length-prefixed so that no two different tuples give the same bytes. */
static int cursor_mac(apr_pool_t *p, const unsigned char *secret,
                      apr_size_t secret_len, const char *account_id,
                      const char *scope, const char *payload,
                      unsigned char mac[WEBOT_SHA256_LEN])
{
    const char *msg = apr_psprintf(p, "webot-cursor\n%lu:%s\n%lu:%s\n%lu:%s",
        (unsigned long)strlen(account_id), account_id,
        (unsigned long)strlen(scope), scope,
        (unsigned long)strlen(payload), payload);
    return webot_hmac_sha256(secret, secret_len, msg, strlen(msg), mac);
}

static int id_ok(const char *id)
{
    apr_size_t n = 0;
    for (; id[n]; n++) {
        if (!apr_isalnum(id[n]) && id[n] != '_' && id[n] != '-') {
            return 0;
        }
    }
    return n >= 1 && n <= 64;
}

char *webot_cursor_encode(apr_pool_t *p, const unsigned char *secret,
                          apr_size_t secret_len, const char *account_id,
                          const char *scope, const char *ts,
                          const char *id)
{
    unsigned char mac[WEBOT_SHA256_LEN];
    apr_time_t t;
    const char *payload;

    if (!ts || !id || webot_time_parse(ts, &t) || !id_ok(id)
        || !account_id || !scope) {
        return NULL;
    }
    payload = apr_pstrcat(p, VERSION, "|", ts, "|", id, NULL);
    if (cursor_mac(p, secret, secret_len, account_id, scope, payload, mac)) {
        return NULL;
    }
    return apr_pstrcat(p,
        webot_b64url(p, (const unsigned char *)payload, strlen(payload)),
        ".", webot_b64url(p, mac, MAC_LEN), NULL);
}

int webot_cursor_decode(apr_pool_t *p, const unsigned char *secret,
                        apr_size_t secret_len, const char *account_id,
                        const char *scope, const char *text,
                        const char **ts, const char **id)
{
    unsigned char mac[WEBOT_SHA256_LEN];
    unsigned char *raw = NULL, *given = NULL;
    const char *dot;
    char *payload, *sep1, *sep2;
    long n, m;
    apr_time_t t;

    if (!text || !account_id || !scope || strlen(text) > WEBOT_CURSOR_MAX
        || !(dot = strchr(text, '.')) || dot == text) {
        return -1;
    }
    n = webot_unb64url(p, apr_pstrmemdup(p, text, (apr_size_t)(dot - text)),
                       &raw);
    m = webot_unb64url(p, dot + 1, &given);
    if (n <= 0 || m != MAC_LEN) {
        return -1;
    }
    payload = apr_pstrmemdup(p, (const char *)raw, (apr_size_t)n);
    if (strlen(payload) != (apr_size_t)n
        || cursor_mac(p, secret, secret_len, account_id, scope, payload,
                      mac)
        || !webot_ct_equal(mac, MAC_LEN, given, MAC_LEN)) {
        return -1;
    }
    /* authentic: still parse defensively */
    if (strncmp(payload, VERSION "|", sizeof(VERSION))
        || !(sep1 = strchr(payload, '|'))
        || !(sep2 = strchr(sep1 + 1, '|'))) {
        return -1;
    }
    *sep2 = '\0';
    if (webot_time_parse(sep1 + 1, &t) || !id_ok(sep2 + 1)) {
        return -1;
    }
    *ts = sep1 + 1;
    *id = sep2 + 1;
    return 0;
}
