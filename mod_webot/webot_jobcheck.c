/* webot_jobcheck.c: a job request against the catalog. */
#include "webot_jobcheck.h"
#include "webot_json.h"
#include "webot_schema.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <string.h>

static const webot_intake_field_t *field_of(const webot_family_t *f,
                                            const char *id)
{
    int i;
    for (i = 0; i < f->fields->nelts; i++) {
        const webot_intake_field_t *fd =
            &APR_ARRAY_IDX(f->fields, i, webot_intake_field_t);
        if (!strcmp(fd->id, id)) {
            return fd;
        }
    }
    return NULL;
}

static int blank(const char *s)
{
    for (; s && *s; s++) {
        if (!apr_isspace(*s)) {
            return 0;
        }
    }
    return 1;
}

webot_jobcheck_t *webot_jobcheck(apr_pool_t *p, const webot_catalog_t *cat,
                                 const json_t *schema, const json_t *body)
{
    webot_jobcheck_t *jc = apr_pcalloc(p, sizeof(*jc));
    const char *opt_id, *key;
    json_t *intake, *v;
    const webot_family_t *fam;
    int i;

    jc->problems = webot_error_make(p, "VALIDATION_ERROR",
                                    "The job request is not valid.");
    jc->missing = webot_json_own(p, json_array());
    jc->nproblems = webot_schema_validate(p, schema, body, "",
                                          jc->problems);
    opt_id = webot_json_str(body, "service_option");
    if (opt_id && !(jc->option = webot_catalog_option(cat, opt_id))) {
        webot_error_add_param(p, jc->problems, "service_option",
            "is not a known service option (see GET /api/v1/catalog)");
        jc->nproblems++;
    }
    if (!jc->option) {
        return jc;
    }
    fam = jc->option->family;
    intake = json_object_get(body, "intake");
    if (json_is_object(intake)) {
        json_object_foreach(intake, key, v) {
            const webot_intake_field_t *fd = field_of(fam, key);
            const char *param = apr_pstrcat(p, "intake.", key, NULL);
            if (!fd) {
                webot_error_add_param(p, jc->problems, param,
                    apr_psprintf(p, "is not an intake field of %s",
                                 fam->id));
                jc->nproblems++;
            }
            else if (json_is_string(v)
                     && webot_utf8_len(json_string_value(v))
                        > (apr_size_t)fd->max_length) {
                webot_error_add_param(p, jc->problems, param,
                    apr_psprintf(p, "must be at most %d characters",
                                 fd->max_length));
                jc->nproblems++;
            }
        }
    }
    for (i = 0; i < fam->fields->nelts; i++) {
        const webot_intake_field_t *fd =
            &APR_ARRAY_IDX(fam->fields, i, webot_intake_field_t);
        json_t *val = json_object_get(intake, fd->id);
        if (fd->required && (!json_is_string(val)
                             || blank(json_string_value(val)))) {
            json_array_append_new(jc->missing, json_pack("{s:s,s:s}",
                                  "id", fd->id, "label", fd->label));
        }
    }
    return jc;
}

webot_error_t *webot_jobcheck_error(apr_pool_t *p, webot_jobcheck_t *jc)
{
    webot_error_t *e;
    if (jc->nproblems) {
        return jc->problems;
    }
    if (json_array_size(jc->missing)) {
        e = webot_error_make(p, "INTAKE_INCOMPLETE",
            "Intake requirements of %s are missing: %lu.",
            jc->option->id, (unsigned long)json_array_size(jc->missing));
        json_array_extend(e->details, jc->missing);
        e->param = apr_pstrcat(p, "intake.", json_string_value(
            json_object_get(json_array_get(jc->missing, 0), "id")), NULL);
        return e;
    }
    return NULL;
}
