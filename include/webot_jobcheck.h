/* webot_jobcheck.h: checking a job request against the catalog, shared by
 * POST /catalog/intent-check and POST /jobs. Core. */
#ifndef WEBOT_JOBCHECK_H
#define WEBOT_JOBCHECK_H

#include "webot_catalog.h"
#include "webot_error.h"

typedef struct webot_jobcheck_t {
    const webot_option_t *option;   /* NULL when unknown */
    webot_error_t *problems;        /* VALIDATION_ERROR; details = problems */
    int nproblems;
    json_t *missing;                /* [{"id","label"}] of missing intake */
} webot_jobcheck_t;

/* Validates body (already a JSON object) against the request schema and
 * the catalog: unknown option, intake keys the family does not define,
 * values over max_length, and required intake that is absent or blank. */
webot_jobcheck_t *webot_jobcheck(apr_pool_t *p, const webot_catalog_t *cat,
                                 const json_t *schema, const json_t *body);

/* The error a job creation answers for a failed check: VALIDATION_ERROR
 * when there are problems, else INTAKE_INCOMPLETE; NULL when it passed. */
webot_error_t *webot_jobcheck_error(apr_pool_t *p, webot_jobcheck_t *jc);

#endif
