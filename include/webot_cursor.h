/* webot_cursor.h: opaque list cursors. A cursor names the last item of a
 * page by its sort key (created_at with microseconds, id) and is bound by
 * an HMAC (server secret) to the account and the list's filters, so a
 * forged, altered, foreign-account or other-filter cursor is refused.
 * Text form: base64url(payload) "." base64url(first 16 bytes of the MAC).
 * Core. */
#ifndef WEBOT_CURSOR_H
#define WEBOT_CURSOR_H

#include <apr_pools.h>

/* Longest cursor text accepted (longer ones are refused unread). */
#define WEBOT_CURSOR_MAX 512

/* Encodes a cursor for the item (ts, id). ts is an RFC 3339 timestamp,
 * id the item's id; scope names the list and its filters (any text that
 * differs when the filters differ). NULL if ts or id are unusable. */
char *webot_cursor_encode(apr_pool_t *p, const unsigned char *secret,
                          apr_size_t secret_len, const char *account_id,
                          const char *scope, const char *ts,
                          const char *id);

/* Decodes and verifies a cursor for this account and scope. Returns 0 and
 * sets *ts and *id, or -1 for anything malformed, forged or foreign. */
int webot_cursor_decode(apr_pool_t *p, const unsigned char *secret,
                        apr_size_t secret_len, const char *account_id,
                        const char *scope, const char *text,
                        const char **ts, const char **id);

#endif
