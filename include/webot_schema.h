/* webot_schema.h: a small JSON Schema (2020-12 subset) validator for request
 * bodies. The same schema text feeds OpenAPI and MCP, so what we document is
 * what we enforce. Supported keywords: type (string or list), properties,
 * required, additionalProperties (false or a schema), minProperties,
 * maxProperties, items, minItems, maxItems, uniqueItems, minLength,
 * maxLength (in characters), pattern (POSIX ERE), enum, const, minimum,
 * maximum, format "date-time". Annotations (description, examples, ...)
 * are ignored. Core. */
#ifndef WEBOT_SCHEMA_H
#define WEBOT_SCHEMA_H

#include "webot_error.h"

/* Validates `inst` against `schema`, adding one {"param","message"} per
 * problem (at most 50) to e (VALIDATION_ERROR). Returns the number of
 * problems. `path` is the parameter prefix ("" for the body root). */
int webot_schema_validate(apr_pool_t *p, const json_t *schema,
                          const json_t *inst, const char *path,
                          webot_error_t *e);

/* UTF-8 character count of a valid UTF-8 string. */
apr_size_t webot_utf8_len(const char *s);

#endif
