/* fuzz_job_render.c: the hand-written JSON writer of job answers
 * (webot_job.c), fed with what clients and executors put into a job: the
 * title, intake, metadata and file ids of POST /jobs and the deliverable
 * of an executor, as they come back from PostgreSQL (jsonb text, which has
 * blanks: "{"a": 1}").
 *
 *   input = byte 0: revision_count, byte 1: max_revisions, then NUL-
 *           separated fields: title, intake JSON, metadata JSON,
 *           deliverable JSON, status, id
 *
 * Fields that are not valid JSON (or not UTF-8 strings) are replaced as
 * the API would never store them. Properties: webot_json_quote of any
 * UTF-8 string parses back to that string; webot_json_minify of indented
 * JSON parses back to the same value; the rendered job is a JSON object
 * whose title, intake, metadata and deliverable equal what went in. */
#include "fuzz_common.h"

#include "webot_job.h"
#include "webot_json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    return 0;
}

/* any JSON value (webot_json_parse wants an object or an array) */
static json_t *parse_any(apr_pool_t *p, const char *text)
{
    return webot_json_own(p, json_loads(text, JSON_DECODE_ANY
                                              | JSON_REJECT_DUPLICATES,
                                        NULL));
}

/* text as PostgreSQL's jsonb would print it, or NULL when not JSON of
 * the wanted type (an object, or any value when want_object is 0) */
static const char *stored(apr_pool_t *p, const char *text, int want_object,
                          json_t **value)
{
    json_t *j = parse_any(p, text);
    char *s;
    const char *out;
    *value = NULL;
    if (!j || (want_object && !json_is_object(j))) {
        return NULL;
    }
    s = json_dumps(j, JSON_INDENT(1) | JSON_ENCODE_ANY);
    if (!s) {
        return NULL;
    }
    out = apr_pstrdup(p, s);
    free(s);
    *value = j;
    return out;
}

static int utf8(const char *s)
{
    json_t *j = json_string(s);
    int r = j != NULL;
    json_decref(j);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *f[6], *why = NULL;
    json_t *intake, *meta, *deliv, *back, *v;
    webot_job_t job;
    apr_array_header_t *buf;
    char *text;

    if (size < 2) {
        return 0;
    }
    p = fuzz_pool();
    fuzz_fields(p, data + 2, size - 2, f, 6);

    /* the string writer on its own */
    if (utf8(f[0])) {
        buf = apr_array_make(p, 64, 1);
        webot_json_quote(buf, f[0]);
        text = webot_buf_text(buf);
        back = parse_any(p, text);
        CHECK(back && json_is_string(back)
              && !strcmp(json_string_value(back), f[0]));
    }
    /* the minifier on its own */
    {
        const char *s = stored(p, f[1], 0, &v);
        if (s) {
            buf = apr_array_make(p, 64, 1);
            webot_json_minify(buf, s);
            text = webot_buf_text(buf);
            back = parse_any(p, text);
            CHECK(back && json_equal(back, v));
        }
    }

    memset(&job, 0, sizeof(job));
    job.id = "job_k3vabcdefghijklmnopqrstuv";
    job.status = *f[4] ? f[4] : "queued";
    job.service_family = "create_polish";
    job.service_option = "tone_rewrites_copy_polish";
    job.title = utf8(f[0]) ? f[0] : NULL;
    job.intake_json = stored(p, f[1], 1, &intake);
    job.file_ids_json = "[\"file_abcdefghijklmnopqrstuvwxyz\"]";
    job.metadata_json = stored(p, f[2], 1, &meta);
    job.deliverable_json = stored(p, f[3], 0, &deliv);
    job.revision_count = data[0] % 8;
    job.max_revisions = data[1] % 8;
    job.created_at = "2024-05-01T12:00:00Z";
    job.updated_at = "2024-05-01T12:00:01Z";
    if (!utf8(job.status)) {
        job.status = "queued";
    }

    text = webot_job_render(p, &job, "/api/v1");
    back = webot_json_parse(p, text, strlen(text), &why);
    if (!back) {
        fprintf(stderr, "rendered job is not JSON (%s): %s\n", why, text);
    }
    CHECK(json_is_object(back));
    v = json_object_get(back, "title");
    CHECK(job.title ? json_is_string(v) && !strcmp(json_string_value(v),
                                                   job.title)
                    : json_is_null(v));
    CHECK(!strcmp(webot_json_str(back, "status"), job.status));
    CHECK(json_equal(json_object_get(back, "intake"),
                     intake ? intake : json_object_get(back, "intake")));
    CHECK(json_is_object(json_object_get(back, "intake")));
    CHECK(!meta || json_equal(json_object_get(back, "metadata"), meta));
    CHECK(deliv ? json_equal(json_object_get(back, "deliverable"), deliv)
                : json_is_null(json_object_get(back, "deliverable")));
    CHECK(json_is_array(json_object_get(back, "allowed_actions")));
    apr_pool_destroy(p);
    return 0;
}
