/* webot_idem.h: Idempotency-Key request fingerprints. The same key may be
 * reused only for the same request: sha256 over the method, the route
 * (with the job id for job actions) and the canonical body (compact JSON
 * with object keys sorted at every level), so whitespace and key order do
 * not make two equal requests differ. Core. */
#ifndef WEBOT_IDEM_H
#define WEBOT_IDEM_H

#include <apr_pools.h>
#include <jansson.h>

#include "webot_util.h"

/* The canonical text of a body; NULL body → "{}". */
char *webot_idem_canonical(apr_pool_t *p, const json_t *body);

/* fingerprint = sha256(method "\n" route "\n" canonical body). */
void webot_idem_fingerprint(apr_pool_t *p, const char *method,
                            const char *route, const json_t *body,
                            unsigned char out[WEBOT_SHA256_LEN]);

/* The same as lowercase hex (64 characters). */
const char *webot_idem_fingerprint_hex(apr_pool_t *p, const char *method,
                                       const char *route,
                                       const json_t *body);

#endif
