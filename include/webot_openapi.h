/* webot_openapi.h: the OpenAPI 3.1 document, built from the route table.
 * The docs page and the MCP tool list read the same document. Core. */
#ifndef WEBOT_OPENAPI_H
#define WEBOT_OPENAPI_H

#include <apr_pools.h>
#include <jansson.h>

#include "webot_route.h"

/* Builds the document (owned by p); NULL and *err when a schema or
 * example in the table is not valid JSON (a programming error). */
json_t *webot_openapi_build(apr_pool_t *p, const webot_route_t *routes,
                            int n, const webot_named_schema_t *components,
                            const char **err);

/* The tag groups in display order, with descriptions. */
typedef struct webot_tag_t {
    const char *name;
    const char *description;
} webot_tag_t;
extern const webot_tag_t webot_tags[];

#endif
