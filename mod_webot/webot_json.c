/* webot_json.c: jansson values tied to APR pools. */
#include "webot_json.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *webot_json_own(apr_pool_t *p, json_t *j)
{
    if (j) {
        apr_pool_cleanup_register(p, j, json_cleanup,
                                  apr_pool_cleanup_null);
    }
    return j;
}

static json_t *parse(apr_pool_t *p, const char *buf, apr_size_t len,
                     size_t flags, const char **why)
{
    json_error_t err;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | flags, &err);
    if (!j) {
        /* jansson's messages carry no input bytes beyond a token; keep the
         * position, which helps a client find the fault. The token may end
         * inside a multi-byte character (fuzz_json_body finding): bytes
         * outside printable ASCII become '?', so the reason can go into an
         * error body (a JSON string must be UTF-8) and into logs. */
        char *c;
        *why = c = apr_psprintf(p, "%s at line %d, column %d",
                                strstr(err.text, "JSON_ALLOW_NUL")
                                ? "\\u0000 is not allowed in strings"
                                : err.text, err.line, err.column);
        for (; *c; c++) {
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) {
                *c = '?';
            }
        }
        return NULL;
    }
    return webot_json_own(p, j);
}

json_t *webot_json_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                         const char **why)
{
    return parse(p, buf, len, 0, why);
}

json_t *webot_json_parse_any(apr_pool_t *p, const char *buf, apr_size_t len,
                             const char **why)
{
    return parse(p, buf, len, JSON_DECODE_ANY, why);
}

char *webot_json_dump(apr_pool_t *p, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    char *out;
    if (!s) {
        return apr_pstrdup(p, "null");
    }
    out = apr_pstrdup(p, s);
    free(s);
    return out;
}

const char *webot_json_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *webot_json_dump_short(apr_pool_t *p, const json_t *j)
{
    return webot_json_dump(p, j);
}
