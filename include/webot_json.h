/* webot_json.h: jansson values tied to APR pools. Core. */
#ifndef WEBOT_JSON_H
#define WEBOT_JSON_H

#include <apr_pools.h>
#include <jansson.h>

/* Registers a cleanup on p that drops one reference to j; returns j.
 * Callers then never count references by hand. NULL is passed through. */
json_t *webot_json_own(apr_pool_t *p, json_t *j);

/* Parses a request body: UTF-8, no duplicate keys, no NUL in strings.
 * Returns the value (owned by p) or NULL with a short reason in *why. */
json_t *webot_json_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                         const char **why);

/* The same, accepting any JSON value at the top (a scalar body is then a
 * validation problem, 422, rather than malformed JSON, 400). */
json_t *webot_json_parse_any(apr_pool_t *p, const char *buf, apr_size_t len,
                             const char **why);

/* Compact dump (keys in insertion order) into p. */
char *webot_json_dump(apr_pool_t *p, const json_t *j);

/* A compact dump for messages (strings keep their quotes). */
const char *webot_json_dump_short(apr_pool_t *p, const json_t *j);

/* Accessors that tolerate NULL / wrong types. */
const char *webot_json_str(const json_t *obj, const char *key);

#endif
