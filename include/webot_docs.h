/* webot_docs.h: the HTML schema browser (GET /api/v1/docs), rendered from
 * the OpenAPI document that webot_openapi.c builds from the route table,
 * so the page can hold nothing the document does not. One static page: no
 * JavaScript, no external assets, inline CSS allowed by a hash in the
 * Content-Security-Policy, every text escaped. Core. */
#ifndef WEBOT_DOCS_H
#define WEBOT_DOCS_H

#include <apr_pools.h>
#include <jansson.h>

typedef struct webot_docs_t {
    const char *html;           /* the page, UTF-8 */
    apr_size_t len;
    const char *csp;            /* Content-Security-Policy for it */
    int routes;                 /* operations rendered */
} webot_docs_t;

/* Renders the page (owned by p). Groups operations by tag in the order of
 * the document's "tags"; per operation: method, path, auth, scopes,
 * purpose, parameters, request and response schemas with examples, error
 * codes and a curl example. NULL and *err when the document lacks paths. */
webot_docs_t *webot_docs_build(apr_pool_t *p, const json_t *openapi,
                               const char **err);

/* HTML-escapes & < > " ' (into p). */
const char *webot_html_escape(apr_pool_t *p, const char *s);

#endif
