/* webot_pgarray.c: PostgreSQL array literals for the worker's bulk
 * statements (declared in webot_store_worker.h; kept apart so that unit
 * tests link them without libpq). */
#include "webot_store_worker.h"

#include <apr_strings.h>
#include <string.h>

const char *webot_pg_array(apr_pool_t *p, const char *const *v, int n)
{
    apr_size_t len = 3;
    char *out, *o;
    int i;

    for (i = 0; i < n; i++) {
        const char *s = v[i];
        len += 5;                       /* quotes, comma, NULL */
        for (; s && *s; s++) {
            len += (*s == '"' || *s == '\\') ? 2 : 1;
        }
    }
    o = out = apr_palloc(p, len);
    *o++ = '{';
    for (i = 0; i < n; i++) {
        const char *s = v[i];
        if (i) {
            *o++ = ',';
        }
        if (!s) {
            memcpy(o, "NULL", 4);
            o += 4;
            continue;
        }
        *o++ = '"';
        for (; *s; s++) {
            if (*s == '"' || *s == '\\') {
                *o++ = '\\';
            }
            *o++ = *s;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

apr_array_header_t *webot_pg_array_parse(apr_pool_t *p, const char *lit)
{
    apr_array_header_t *a = apr_array_make(p, 4, sizeof(const char *));
    const char *s = lit;
    char *buf;

    if (!s || *s++ != '{') {
        return NULL;
    }
    buf = apr_palloc(p, strlen(lit) + 1);
    if (*s == '}') {
        return s[1] ? NULL : a;
    }
    for (;;) {
        char *o = buf;
        const char *el;
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1]) {
                    s++;
                }
                *o++ = *s;
            }
            if (*s++ != '"') {
                return NULL;
            }
            *o = '\0';
            el = apr_pstrdup(p, buf);
        }
        else {
            const char *start = s;
            while (*s && *s != ',' && *s != '}') {
                s++;
            }
            if (s == start) {
                return NULL;
            }
            el = apr_pstrmemdup(p, start, (apr_size_t)(s - start));
            if (!strcmp(el, "NULL")) {
                el = NULL;
            }
        }
        APR_ARRAY_PUSH(a, const char *) = el;
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '}' && !s[1]) {
            return a;
        }
        return NULL;
    }
}

