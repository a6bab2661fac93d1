/* webot_schema.c: the request-body validator (see webot_schema.h). */
#include "webot_schema.h"
#include "webot_util.h"
#include "webot_json.h"

#include <apr_strings.h>
#include <regex.h>
#include <string.h>

#define MAX_PROBLEMS 50

apr_size_t webot_utf8_len(const char *s)
{
    apr_size_t n = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

static int problem(apr_pool_t *p, webot_error_t *e, const char *path,
                   const char *msg)
{
    if (json_array_size(e->details) < MAX_PROBLEMS) {
        webot_error_add_param(p, e, *path ? path : NULL, msg);
    }
    return 1;
}

static const char *type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "object";
    case JSON_ARRAY:   return "array";
    case JSON_STRING:  return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL:    return "number";
    case JSON_TRUE:
    case JSON_FALSE:   return "boolean";
    default:           return "null";
    }
}

static int type_matches(const char *want, const json_t *v)
{
    const char *have = type_of(v);
    if (!strcmp(want, have)) {
        return 1;
    }
    return !strcmp(want, "number") && json_is_integer(v);
}

static int check_type(apr_pool_t *p, const json_t *schema, const json_t *v,
                      const char *path, webot_error_t *e)
{
    json_t *t = json_object_get(schema, "type");
    size_t i;
    json_t *x;
    const char *names = NULL;

    if (!t) {
        return 0;
    }
    if (json_is_string(t)) {
        if (type_matches(json_string_value(t), v)) {
            return 0;
        }
        names = json_string_value(t);
    }
    else {
        json_array_foreach(t, i, x) {
            if (type_matches(json_string_value(x), v)) {
                return 0;
            }
            names = names ? apr_pstrcat(p, names, " or ",
                                        json_string_value(x), NULL)
                          : json_string_value(x);
        }
    }
    problem(p, e, path, apr_psprintf(p, "must be %s %s",
            names && strchr("aeiou", names[0]) ? "an" : "a",
            names ? names : "value"));
    return 1;
}

static const char *join(apr_pool_t *p, const char *path, const char *key)
{
    return *path ? apr_pstrcat(p, path, ".", key, NULL)
                 : apr_pstrdup(p, key);
}

static int validate(apr_pool_t *p, const json_t *s, const json_t *v,
                    const char *path, webot_error_t *e);

static int check_object(apr_pool_t *p, const json_t *s, const json_t *v,
                        const char *path, webot_error_t *e)
{
    json_t *props = json_object_get(s, "properties");
    json_t *addl = json_object_get(s, "additionalProperties");
    json_t *req = json_object_get(s, "required"), *x;
    const char *key;
    json_t *val;
    size_t i;
    int n = 0;

    json_array_foreach(req, i, x) {
        const char *k = json_string_value(x);
        if (k && !json_object_get(v, k)) {
            n += problem(p, e, join(p, path, k), "is required");
        }
    }
    json_object_foreach((json_t *)v, key, val) {
        json_t *ps = json_object_get(props, key);
        const char *sub = join(p, path, key);
        if (ps) {
            n += validate(p, ps, val, sub, e);
        }
        else if (json_is_false(addl)) {
            n += problem(p, e, sub, "is not a known field");
        }
        else if (json_is_object(addl)) {
            n += validate(p, addl, val, sub, e);
        }
    }
    if ((x = json_object_get(s, "maxProperties"))
        && json_object_size(v) > (size_t)json_integer_value(x)) {
        n += problem(p, e, path, apr_psprintf(p,
                     "must have at most %" APR_INT64_T_FMT " entries",
                     (apr_int64_t)json_integer_value(x)));
    }
    if ((x = json_object_get(s, "minProperties"))
        && json_object_size(v) < (size_t)json_integer_value(x)) {
        n += problem(p, e, path, apr_psprintf(p,
                     "must have at least %" APR_INT64_T_FMT " entries",
                     (apr_int64_t)json_integer_value(x)));
    }
    return n;
}

static int check_array(apr_pool_t *p, const json_t *s, const json_t *v,
                       const char *path, webot_error_t *e)
{
    json_t *items = json_object_get(s, "items"), *x, *y;
    size_t i, j;
    int n = 0;

    if ((x = json_object_get(s, "maxItems"))
        && json_array_size(v) > (size_t)json_integer_value(x)) {
        return problem(p, e, path, apr_psprintf(p,
                       "must have at most %" APR_INT64_T_FMT " items",
                       (apr_int64_t)json_integer_value(x)));
    }
    if ((x = json_object_get(s, "minItems"))
        && json_array_size(v) < (size_t)json_integer_value(x)) {
        n += problem(p, e, path, apr_psprintf(p,
                     "must have at least %" APR_INT64_T_FMT " items",
                     (apr_int64_t)json_integer_value(x)));
    }
    if (items) {
        json_array_foreach(v, i, x) {
            n += validate(p, items, x, apr_psprintf(p, "%s[%lu]", path,
                          (unsigned long)i), e);
        }
    }
    if (json_is_true(json_object_get(s, "uniqueItems"))) {
        json_array_foreach(v, i, x) {
            for (j = i + 1; j < json_array_size(v); j++) {
                y = json_array_get(v, j);
                if (json_equal(x, y)) {
                    return n + problem(p, e, apr_psprintf(p, "%s[%lu]", path,
                                       (unsigned long)j), "is a duplicate");
                }
            }
        }
    }
    return n;
}

static int check_string(apr_pool_t *p, const json_t *s, const json_t *v,
                        const char *path, webot_error_t *e)
{
    const char *str = json_string_value(v);
    apr_size_t len = webot_utf8_len(str);
    json_t *x;

    if ((x = json_object_get(s, "minLength"))
        && len < (apr_size_t)json_integer_value(x)) {
        return problem(p, e, path, json_integer_value(x) == 1
                       ? "must not be empty"
                       : apr_psprintf(p, "must be at least %" APR_INT64_T_FMT " characters",
                                      (apr_int64_t)json_integer_value(x)));
    }
    if ((x = json_object_get(s, "maxLength"))
        && len > (apr_size_t)json_integer_value(x)) {
        return problem(p, e, path, apr_psprintf(p,
                       "must be at most %" APR_INT64_T_FMT " characters",
                       (apr_int64_t)json_integer_value(x)));
    }
    if ((x = json_object_get(s, "pattern")) && json_is_string(x)) {
        regex_t re;
        int rc;
        if (regcomp(&re, json_string_value(x), REG_EXTENDED | REG_NOSUB)) {
            return problem(p, e, path, "cannot be checked");
        }
        rc = regexec(&re, str, 0, NULL, 0);
        regfree(&re);
        if (rc) {
            return problem(p, e, path, apr_psprintf(p,
                           "must match %s", json_string_value(x)));
        }
    }
    if ((x = json_object_get(s, "format")) && json_is_string(x)
        && !strcmp(json_string_value(x), "date-time")) {
        apr_time_t t;
        if (webot_time_parse(str, &t)) {
            return problem(p, e, path,
                           "must be an RFC 3339 date-time such as "
                           "2026-01-31T12:00:00Z");
        }
    }
    return 0;
}

static int check_number(apr_pool_t *p, const json_t *s, const json_t *v,
                        const char *path, webot_error_t *e)
{
    double d = json_number_value(v);
    json_t *x;
    if ((x = json_object_get(s, "minimum")) && d < json_number_value(x)) {
        return problem(p, e, path, apr_psprintf(p, "must be at least %" APR_INT64_T_FMT "",
                       (apr_int64_t)json_number_value(x)));
    }
    if ((x = json_object_get(s, "maximum")) && d > json_number_value(x)) {
        return problem(p, e, path, apr_psprintf(p, "must be at most %" APR_INT64_T_FMT "",
                       (apr_int64_t)json_number_value(x)));
    }
    return 0;
}

static int check_enum(apr_pool_t *p, const json_t *s, const json_t *v,
                      const char *path, webot_error_t *e)
{
    json_t *en = json_object_get(s, "enum"), *c = json_object_get(s, "const"),
           *x;
    size_t i;
    const char *list = NULL;

    if (c && !json_equal(c, (json_t *)v)) {
        return problem(p, e, path, apr_psprintf(p, "must be %s",
                       webot_json_dump_short(p, c)));
    }
    if (!en) {
        return 0;
    }
    json_array_foreach(en, i, x) {
        if (json_equal(x, (json_t *)v)) {
            return 0;
        }
        list = list ? apr_pstrcat(p, list, ", ", webot_json_dump_short(p, x),
                                  NULL)
                    : webot_json_dump_short(p, x);
    }
    return problem(p, e, path, apr_psprintf(p, "must be one of: %s",
                   list ? list : ""));
}

static int validate(apr_pool_t *p, const json_t *s, const json_t *v,
                    const char *path, webot_error_t *e)
{
    if (!json_is_object(s)) {
        return 0;               /* `true` schema */
    }
    if (check_type(p, s, v, path, e)) {
        return 1;
    }
    if (check_enum(p, s, v, path, e)) {
        return 1;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return check_object(p, s, v, path, e);
    case JSON_ARRAY:   return check_array(p, s, v, path, e);
    case JSON_STRING:  return check_string(p, s, v, path, e);
    case JSON_INTEGER:
    case JSON_REAL:    return check_number(p, s, v, path, e);
    default:           return 0;
    }
}

int webot_schema_validate(apr_pool_t *p, const json_t *schema,
                          const json_t *inst, const char *path,
                          webot_error_t *e)
{
    return validate(p, schema, inst, path ? path : "", e);
}
