/* webot_catalog.c: load and validate the catalog file. Every problem is
 * reported once, as "FILE: $.json.path: problem", so an administrator can
 * fix it from the configtest line alone. */
#include "webot_catalog.h"
#include "webot_json.h"
#include "webot_util.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <string.h>

typedef struct {
    apr_pool_t *p;
    const char *file;
    const char *err;            /* first problem */
    apr_hash_t *ids;            /* every id seen, for uniqueness */
} loader_t;

static int fail(loader_t *l, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(loader_t *l, const char *path, const char *fmt, ...)
{
    va_list ap;
    char *msg, *c;
    if (!l->err) {
        va_start(ap, fmt);
        msg = apr_pvsprintf(l->p, fmt, ap);
        va_end(ap);
        l->err = c = apr_psprintf(l->p, "%s: %s: %s", l->file, path, msg);
        /* one line: a key of the file may hold a newline or other control
         * characters (fuzz_catalog finding); they become '?' */
        for (; *c; c++) {
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                *c = '?';
            }
        }
    }
    return -1;
}

static int id_ok(const char *s)
{
    apr_size_t n = 0;
    if (!s || !apr_islower(*s)) {
        return 0;
    }
    for (; *s; s++, n++) {
        if (!(apr_islower(*s) || apr_isdigit(*s) || *s == '_')) {
            return 0;
        }
    }
    return n >= 2 && n <= 64;
}

static int check_keys(loader_t *l, json_t *obj, const char *path,
                      const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        const char *const *a;
        int ok = 0;
        for (a = allowed; *a; a++) {
            if (!strcmp(*a, key)) {
                ok = 1;
                break;
            }
        }
        if (!ok) {
            return fail(l, apr_pstrcat(l->p, path, ".", key, NULL),
                        "unknown field");
        }
    }
    return 0;
}

static const char *get_str(loader_t *l, json_t *obj, const char *path,
                           const char *key, int required, apr_size_t max)
{
    json_t *v = json_object_get(obj, key);
    const char *sp = apr_pstrcat(l->p, path, ".", key, NULL);
    if (!v) {
        if (required) {
            fail(l, sp, "is required");
        }
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        fail(l, sp, "must be a non-empty string");
        return NULL;
    }
    if (json_string_length(v) > max) {
        fail(l, sp, "must be at most %lu bytes", (unsigned long)max);
        return NULL;
    }
    return apr_pstrdup(l->p, json_string_value(v));
}

static int get_int(loader_t *l, json_t *obj, const char *path,
                   const char *key, long long min, long long max,
                   long long *out)
{
    json_t *v = json_object_get(obj, key);
    const char *sp = apr_pstrcat(l->p, path, ".", key, NULL);
    if (!v) {
        return fail(l, sp, "is required");
    }
    if (!json_is_integer(v) || json_integer_value(v) < min
        || json_integer_value(v) > max) {
        return fail(l, sp, "must be an integer from %" APR_INT64_T_FMT " to %"
                    APR_INT64_T_FMT, (apr_int64_t)min, (apr_int64_t)max);
    }
    *out = json_integer_value(v);
    return 0;
}

static const char *get_id(loader_t *l, json_t *obj, const char *path)
{
    const char *id = get_str(l, obj, path, "id", 1, 64);
    if (!id) {
        return NULL;
    }
    if (!id_ok(id)) {
        fail(l, apr_pstrcat(l->p, path, ".id", NULL),
             "must match ^[a-z][a-z0-9_]{1,63}$");
        return NULL;
    }
    if (apr_hash_get(l->ids, id, APR_HASH_KEY_STRING)) {
        fail(l, apr_pstrcat(l->p, path, ".id", NULL),
             "duplicate id \"%s\"", id);
        return NULL;
    }
    apr_hash_set(l->ids, id, APR_HASH_KEY_STRING, id);
    return id;
}

static json_t *get_array(loader_t *l, json_t *obj, const char *path,
                         const char *key, int min)
{
    json_t *v = json_object_get(obj, key);
    const char *sp = apr_pstrcat(l->p, path, ".", key, NULL);
    if (!json_is_array(v)) {
        fail(l, sp, v ? "must be an array" : "is required");
        return NULL;
    }
    if ((int)json_array_size(v) < min) {
        fail(l, sp, "must have at least %d item%s", min, min == 1 ? "" : "s");
        return NULL;
    }
    return v;
}

static int load_field(loader_t *l, json_t *o, const char *path,
                      webot_family_t *fam)
{
    static const char *const keys[] = {
        "id", "label", "required", "max_length", NULL };
    webot_intake_field_t *f;
    json_t *req;
    long long ml;
    const char *id;
    int i;

    if (!json_is_object(o)) {
        return fail(l, path, "must be an object");
    }
    if (check_keys(l, o, path, keys)) {
        return -1;
    }
    /* field ids are unique within a family only */
    id = get_str(l, o, path, "id", 1, 64);
    if (!id) {
        return -1;
    }
    if (!id_ok(id)) {
        return fail(l, apr_pstrcat(l->p, path, ".id", NULL),
                    "must match ^[a-z][a-z0-9_]{1,63}$");
    }
    for (i = 0; i < fam->fields->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(fam->fields, i, webot_intake_field_t).id,
                    id)) {
            return fail(l, apr_pstrcat(l->p, path, ".id", NULL),
                        "duplicate intake field \"%s\"", id);
        }
    }
    f = apr_array_push(fam->fields);
    f->id = id;
    f->label = get_str(l, o, path, "label", 1, 200);
    req = json_object_get(o, "required");
    if (!json_is_boolean(req)) {
        return fail(l, apr_pstrcat(l->p, path, ".required", NULL),
                    req ? "must be a boolean" : "is required");
    }
    f->required = json_is_true(req);
    if (get_int(l, o, path, "max_length", 1, 100000, &ml)) {
        return -1;
    }
    f->max_length = (int)ml;
    return f->label ? 0 : -1;
}

static int load_family(loader_t *l, webot_catalog_t *c, json_t *o,
                       const char *path)
{
    static const char *const keys[] = {
        "id", "name", "description", "review_required", "intake_fields",
        "quality_signals", "service_options", NULL };
    static const char *const okeys[] = { "id", "name", "description", NULL };
    webot_family_t *fam = apr_pcalloc(l->p, sizeof(*fam));
    json_t *arr, *v, *rr;
    size_t i;

    if (!json_is_object(o)) {
        return fail(l, path, "must be an object");
    }
    if (check_keys(l, o, path, keys) || !(fam->id = get_id(l, o, path))
        || !(fam->name = get_str(l, o, path, "name", 1, 200))) {
        return -1;
    }
    fam->description = get_str(l, o, path, "description", 0, 2000);
    rr = json_object_get(o, "review_required");
    if (rr && !json_is_boolean(rr)) {
        return fail(l, apr_pstrcat(l->p, path, ".review_required", NULL),
                    "must be a boolean");
    }
    fam->review_required = json_is_true(rr);
    fam->fields = apr_array_make(l->p, 8, sizeof(webot_intake_field_t));
    fam->options = apr_array_make(l->p, 4, sizeof(webot_option_t *));
    fam->quality_signals = apr_array_make(l->p, 4, sizeof(const char *));

    if (!(arr = get_array(l, o, path, "intake_fields", 1))) {
        return -1;
    }
    json_array_foreach(arr, i, v) {
        if (load_field(l, v, apr_psprintf(l->p, "%s.intake_fields[%lu]",
                                          path, (unsigned long)i), fam)) {
            return -1;
        }
    }
    if (!(arr = get_array(l, o, path, "quality_signals", 0))) {
        return -1;
    }
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v) || !json_string_length(v)) {
            return fail(l, apr_psprintf(l->p, "%s.quality_signals[%lu]",
                                        path, (unsigned long)i),
                        "must be a non-empty string");
        }
        APR_ARRAY_PUSH(fam->quality_signals, const char *) =
            apr_pstrdup(l->p, json_string_value(v));
    }
    if (!(arr = get_array(l, o, path, "service_options", 1))) {
        return -1;
    }
    json_array_foreach(arr, i, v) {
        const char *op = apr_psprintf(l->p, "%s.service_options[%lu]", path,
                                      (unsigned long)i);
        webot_option_t *opt = apr_pcalloc(l->p, sizeof(*opt));
        if (!json_is_object(v)) {
            return fail(l, op, "must be an object");
        }
        if (check_keys(l, v, op, okeys) || !(opt->id = get_id(l, v, op))
            || !(opt->name = get_str(l, v, op, "name", 1, 200))) {
            return -1;
        }
        opt->description = get_str(l, v, op, "description", 0, 2000);
        opt->family = fam;
        APR_ARRAY_PUSH(fam->options, webot_option_t *) = opt;
        apr_hash_set(c->options_by_id, opt->id, APR_HASH_KEY_STRING, opt);
    }
    APR_ARRAY_PUSH(c->families, webot_family_t *) = fam;
    apr_hash_set(c->families_by_id, fam->id, APR_HASH_KEY_STRING, fam);
    return 0;
}

static int load_plan(loader_t *l, webot_catalog_t *c, json_t *o,
                     const char *path)
{
    static const char *const keys[] = {
        "id", "name", "description", "access", "limits", "price",
        "stripe_lookup_key", NULL };
    static const char *const lkeys[] = {
        "monthly_jobs", "max_active_jobs", "max_revisions",
        "rate_limit_per_minute", "max_upload_bytes", NULL };
    static const char *const pkeys[] = {
        "amount", "currency", "interval", NULL };
    webot_plan_t *pl = apr_pcalloc(l->p, sizeof(*pl));
    json_t *acc, *lim, *pr, *v;
    const char *lp, *pp;
    long long n;
    size_t i;

    if (!json_is_object(o)) {
        return fail(l, path, "must be an object");
    }
    if (check_keys(l, o, path, keys) || !(pl->id = get_id(l, o, path))
        || !(pl->name = get_str(l, o, path, "name", 1, 200))) {
        return -1;
    }
    pl->description = get_str(l, o, path, "description", 0, 2000);
    if (!(acc = get_array(l, o, path, "access", 1))) {
        return -1;
    }
    json_array_foreach(acc, i, v) {
        unsigned bit = json_is_string(v)
                       ? webot_access_bit(json_string_value(v)) : 0;
        if (!bit || (pl->access & bit)) {
            return fail(l, apr_psprintf(l->p, "%s.access[%lu]", path,
                                        (unsigned long)i),
                        "must be \"api\" or \"dashboard\", each at most once");
        }
        pl->access |= bit;
    }
    lp = apr_pstrcat(l->p, path, ".limits", NULL);
    lim = json_object_get(o, "limits");
    if (!json_is_object(lim)) {
        return fail(l, lp, lim ? "must be an object" : "is required");
    }
    if (check_keys(l, lim, lp, lkeys)) {
        return -1;
    }
    if (get_int(l, lim, lp, "monthly_jobs", 0, 10000000, &n)) return -1;
    pl->monthly_jobs = (int)n;
    if (get_int(l, lim, lp, "max_active_jobs", 0, 100000, &n)) return -1;
    pl->max_active_jobs = (int)n;
    if (get_int(l, lim, lp, "max_revisions", 0, 100, &n)) return -1;
    pl->max_revisions = (int)n;
    if (get_int(l, lim, lp, "rate_limit_per_minute", 1, 1000000, &n)) return -1;
    pl->rate_limit_per_minute = (int)n;
    if (get_int(l, lim, lp, "max_upload_bytes", 1, 5368709120LL, &n)) return -1;
    pl->max_upload_bytes = n;

    pp = apr_pstrcat(l->p, path, ".price", NULL);
    pr = json_object_get(o, "price");
    if (!json_is_object(pr)) {
        return fail(l, pp, pr ? "must be an object" : "is required");
    }
    if (check_keys(l, pr, pp, pkeys)
        || get_int(l, pr, pp, "amount", 0, 100000000, &pl->price_amount)
        || !(pl->currency = get_str(l, pr, pp, "currency", 1, 3))
        || !(pl->interval = get_str(l, pr, pp, "interval", 1, 5))) {
        return -1;
    }
    if (strlen(pl->currency) != 3 || !apr_islower(pl->currency[0])
        || !apr_islower(pl->currency[1]) || !apr_islower(pl->currency[2])) {
        return fail(l, apr_pstrcat(l->p, pp, ".currency", NULL),
                    "must be a lower-case ISO 4217 code such as \"usd\"");
    }
    if (strcmp(pl->interval, "month") && strcmp(pl->interval, "year")) {
        return fail(l, apr_pstrcat(l->p, pp, ".interval", NULL),
                    "must be \"month\" or \"year\"");
    }
    if (!(pl->stripe_lookup_key = get_str(l, o, path, "stripe_lookup_key",
                                          1, 200))) {
        return -1;
    }
    APR_ARRAY_PUSH(c->plans, webot_plan_t *) = pl;
    apr_hash_set(c->plans_by_id, pl->id, APR_HASH_KEY_STRING, pl);
    return 0;
}

/* The public catalog body: the WeBot docs' shape plus intake_fields. */
static json_t *render_catalog(const webot_catalog_t *c)
{
    static const char *const statuses[] = {
        "queued", "accepted", "running", "needs_review",
        "ready_for_customer_review", "completed", "rejected", "canceled" };
    json_t *root = json_object(), *fams = json_array(), *st = json_array();
    int i, j;

    for (i = 0; i < c->families->nelts; i++) {
        const webot_family_t *f = APR_ARRAY_IDX(c->families, i,
                                                webot_family_t *);
        json_t *fo = json_object(), *req = json_array(), *flds = json_array(),
               *qs = json_array(), *opts = json_array();
        for (j = 0; j < f->fields->nelts; j++) {
            const webot_intake_field_t *fd =
                &APR_ARRAY_IDX(f->fields, j, webot_intake_field_t);
            if (fd->required) {
                json_array_append_new(req, json_string(fd->label));
            }
            json_array_append_new(flds, json_pack("{s:s,s:s,s:b,s:i}",
                "id", fd->id, "label", fd->label, "required", fd->required,
                "max_length", fd->max_length));
        }
        for (j = 0; j < f->quality_signals->nelts; j++) {
            json_array_append_new(qs, json_string(
                APR_ARRAY_IDX(f->quality_signals, j, const char *)));
        }
        for (j = 0; j < f->options->nelts; j++) {
            const webot_option_t *o = APR_ARRAY_IDX(f->options, j,
                                                    webot_option_t *);
            json_t *oo = json_pack("{s:s,s:s}", "id", o->id, "name", o->name);
            if (o->description) {
                json_object_set_new(oo, "description",
                                    json_string(o->description));
            }
            json_array_append_new(opts, oo);
        }
        json_object_set_new(fo, "id", json_string(f->id));
        json_object_set_new(fo, "name", json_string(f->name));
        if (f->description) {
            json_object_set_new(fo, "description",
                                json_string(f->description));
        }
        json_object_set_new(fo, "intake_requirements", req);
        json_object_set_new(fo, "intake_fields", flds);
        json_object_set_new(fo, "quality_signals", qs);
        json_object_set_new(fo, "review_required",
                            json_boolean(f->review_required));
        json_object_set_new(fo, "service_options", opts);
        json_array_append_new(fams, fo);
    }
    for (i = 0; i < (int)(sizeof(statuses) / sizeof(*statuses)); i++) {
        json_array_append_new(st, json_string(statuses[i]));
    }
    json_object_set_new(root, "service_families", fams);
    json_object_set_new(root, "job_statuses", st);
    return root;
}

/* A refusal is one line (it goes to the error log and to `webotctl catalog
 * check`): control characters that jansson quotes from the file ("near
 * '...'") are written as \xNN. */
static const char *one_line(apr_pool_t *p, const char *msg)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s;
    char *out, *o;
    size_t n = 0;

    for (s = (const unsigned char *)msg; *s; s++) {
        n += (*s < 0x20 || *s == 0x7f) ? 4 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    for (s = (const unsigned char *)msg; *s; s++) {
        if (*s < 0x20 || *s == 0x7f) {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[*s >> 4];
            *o++ = hex[*s & 15];
        }
        else {
            *o++ = (char)*s;
        }
    }
    *o = '\0';
    return out;
}

static const char *catalog_load(apr_pool_t *p, const char *path,
                                webot_catalog_t **out);

const char *webot_catalog_load(apr_pool_t *p, const char *path,
                               webot_catalog_t **out)
{
    const char *err = catalog_load(p, path, out);
    return err ? one_line(p, err) : NULL;
}

static const char *catalog_load(apr_pool_t *p, const char *path,
                                webot_catalog_t **out)
{
    loader_t l = { p, path, NULL, apr_hash_make(p) };
    webot_catalog_t *c = apr_pcalloc(p, sizeof(*c));
    static const char *const keys[] = { "service_families", "plans", NULL };
    json_error_t jerr;
    json_t *root, *arr, *v, *rendered;
    unsigned char sum[WEBOT_SHA256_LEN];
    size_t i;

    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line < 0) {    /* could not open or read the file */
            return apr_psprintf(p, "%s: $: %s", path, jerr.text);
        }
        return apr_psprintf(p, "%s: $: %s (line %d, column %d)", path,
                            jerr.text, jerr.line, jerr.column);
    }
    webot_json_own(p, root);
    c->path = apr_pstrdup(p, path);
    c->families = apr_array_make(p, 4, sizeof(webot_family_t *));
    c->plans = apr_array_make(p, 4, sizeof(webot_plan_t *));
    c->families_by_id = apr_hash_make(p);
    c->options_by_id = apr_hash_make(p);
    c->plans_by_id = apr_hash_make(p);

    if (!json_is_object(root)) {
        return apr_psprintf(p, "%s: $: must be a JSON object", path);
    }
    if (check_keys(&l, root, "$", keys)) {
        return l.err;
    }
    if ((arr = get_array(&l, root, "$", "service_families", 1))) {
        json_array_foreach(arr, i, v) {
            if (load_family(&l, c, v, apr_psprintf(p, "$.service_families[%lu]",
                                                   (unsigned long)i))) {
                break;
            }
        }
    }
    if (!l.err && (arr = get_array(&l, root, "$", "plans", 1))) {
        json_array_foreach(arr, i, v) {
            if (load_plan(&l, c, v, apr_psprintf(p, "$.plans[%lu]",
                                                 (unsigned long)i))) {
                break;
            }
        }
    }
    if (l.err) {
        return l.err;
    }
    rendered = webot_json_own(p, render_catalog(c));
    c->catalog_json = webot_json_dump(p, rendered);
    c->catalog_json_len = strlen(c->catalog_json);
    webot_sha256(c->catalog_json, c->catalog_json_len, sum);
    c->catalog_etag = apr_pstrcat(p, "\"", webot_hex(p, sum, 16), "\"", NULL);
    *out = c;
    return NULL;
}

const webot_option_t *webot_catalog_option(const webot_catalog_t *c,
                                           const char *id)
{
    return id ? apr_hash_get(c->options_by_id, id, APR_HASH_KEY_STRING) : NULL;
}

const webot_plan_t *webot_catalog_plan(const webot_catalog_t *c,
                                       const char *id)
{
    return id ? apr_hash_get(c->plans_by_id, id, APR_HASH_KEY_STRING) : NULL;
}

unsigned webot_access_bit(const char *name)
{
    if (!strcmp(name, "api")) return WEBOT_ACCESS_API;
    if (!strcmp(name, "dashboard")) return WEBOT_ACCESS_DASHBOARD;
    return 0;
}

json_t *webot_access_json(unsigned access)
{
    json_t *a = json_array();
    if (access & WEBOT_ACCESS_API) {
        json_array_append_new(a, json_string("api"));
    }
    if (access & WEBOT_ACCESS_DASHBOARD) {
        json_array_append_new(a, json_string("dashboard"));
    }
    return a;
}
