/* webot_catalog.h: the service catalog and plan table, loaded from the JSON
 * file named by WebotCatalogFile (also `webotctl catalog check`). Core. */
#ifndef WEBOT_CATALOG_H
#define WEBOT_CATALOG_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include <jansson.h>

#define WEBOT_ACCESS_API        0x1
#define WEBOT_ACCESS_DASHBOARD  0x2

typedef struct webot_intake_field_t {
    const char *id;
    const char *label;
    int required;
    int max_length;             /* in characters */
} webot_intake_field_t;

typedef struct webot_family_t webot_family_t;

typedef struct webot_option_t {
    const char *id;
    const char *name;
    const char *description;
    const webot_family_t *family;
} webot_option_t;

struct webot_family_t {
    const char *id;
    const char *name;
    const char *description;
    int review_required;                /* executor output goes to staff */
    apr_array_header_t *fields;         /* webot_intake_field_t */
    apr_array_header_t *options;        /* webot_option_t * */
    apr_array_header_t *quality_signals;/* const char * */
};

typedef struct webot_plan_t {
    const char *id;
    const char *name;
    const char *description;
    unsigned access;                    /* WEBOT_ACCESS_* bits */
    int monthly_jobs;
    int max_active_jobs;
    int max_revisions;
    int rate_limit_per_minute;
    long long max_upload_bytes;
    long long price_amount;             /* minor units (cents) */
    const char *currency;               /* lower-case ISO 4217 */
    const char *interval;               /* month | year */
    const char *stripe_lookup_key;
} webot_plan_t;

typedef struct webot_catalog_t {
    const char *path;
    apr_array_header_t *families;       /* webot_family_t * */
    apr_array_header_t *plans;          /* webot_plan_t * */
    apr_hash_t *families_by_id;
    apr_hash_t *options_by_id;
    apr_hash_t *plans_by_id;
    /* The public GET /catalog body, rendered once (compact JSON), and its
     * strong ETag. */
    const char *catalog_json;
    apr_size_t catalog_json_len;
    const char *catalog_etag;
} webot_catalog_t;

/* Loads and validates a catalog file. On failure returns a one-line
 * message "FILE: $.json.path: problem"; on success NULL and *out. All
 * memory from p. */
const char *webot_catalog_load(apr_pool_t *p, const char *path,
                               webot_catalog_t **out);

const webot_option_t *webot_catalog_option(const webot_catalog_t *c,
                                           const char *id);
const webot_plan_t *webot_catalog_plan(const webot_catalog_t *c,
                                       const char *id);
/* "api", "dashboard" → bit; 0 if unknown. */
unsigned webot_access_bit(const char *name);
/* JSON array of access names for bits. */
json_t *webot_access_json(unsigned access);

#endif
