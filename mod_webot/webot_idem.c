/* webot_idem.c: Idempotency-Key request fingerprints (webot_idem.h). */
#include "webot_idem.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

char *webot_idem_canonical(apr_pool_t *p, const json_t *body)
{
    char *s, *out;
    if (!body) {
        return apr_pstrdup(p, "{}");
    }
    /* JSON_SORT_KEYS sorts the keys of every object, nested ones too;
     * strings are kept as UTF-8, numbers in jansson's canonical form. */
    s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s) {
        return apr_pstrdup(p, "");
    }
    out = apr_pstrdup(p, s);
    free(s);
    return out;
}

void webot_idem_fingerprint(apr_pool_t *p, const char *method,
                            const char *route, const json_t *body,
                            unsigned char out[WEBOT_SHA256_LEN])
{
    const char *text = apr_pstrcat(p, method, "\n", route, "\n",
                                   webot_idem_canonical(p, body), NULL);
    webot_sha256(text, strlen(text), out);
}

const char *webot_idem_fingerprint_hex(apr_pool_t *p, const char *method,
                                       const char *route,
                                       const json_t *body)
{
    unsigned char fp[WEBOT_SHA256_LEN];
    webot_idem_fingerprint(p, method, route, body, fp);
    return webot_hex(p, fp, WEBOT_SHA256_LEN);
}
