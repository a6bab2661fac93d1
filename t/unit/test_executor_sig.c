/* test_executor_sig.c: C unit tests of the worker's core: the executor
 * signature (a fixed vector computed independently with Perl's
 * Digest::SHA), its verification (tolerance, several v1 values, tampering),
 * the classification of executor answers, the brief, and the PostgreSQL
 * array literals of webot_store_worker.c. TAP output; non-zero exit on
 * failure. */
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "webot_executor.h"
#include "webot_store_worker.h"

#include "tap.h"

static apr_pool_t *P;

static const unsigned char SECRET[] = "executor-secret-0123456789abcdef";
#define SECRET_LEN (sizeof(SECRET) - 1)

static void test_signature(void)
{
    const char *body = "{\"id\":\"job_x\"}";
    /* perl -MDigest::SHA=hmac_sha256_hex -e 'print hmac_sha256_hex(
     *   q(1700000000.{"id":"job_x"}), "executor-secret-0123456789abcdef")' */
    const char *want = "t=1700000000,v1=2a27b7fc77cf85869e1b57a05f2eb6c4"
                       "ceb1cb63b05a769a26f5c48c02043f2a";
    const char *sig = webot_exec_signature(P, SECRET, SECRET_LEN,
                                           1700000000LL, body, strlen(body));
    ok(sig && !strcmp(sig, want), "signature matches the reference vector");
    ok(webot_exec_signature_verify(want, SECRET, SECRET_LEN, body,
                                   strlen(body), 1700000000LL, 300),
       "verify: valid at t");
    ok(webot_exec_signature_verify(want, SECRET, SECRET_LEN, body,
                                   strlen(body), 1700000300LL, 300),
       "verify: valid at the edge of the tolerance");
    ok(!webot_exec_signature_verify(want, SECRET, SECRET_LEN, body,
                                    strlen(body), 1700000301LL, 300),
       "verify: refused past the tolerance");
    ok(!webot_exec_signature_verify(want, SECRET, SECRET_LEN,
                                    "{\"id\":\"job_y\"}", strlen(body),
                                    1700000000LL, 300),
       "verify: refused for another body");
    ok(!webot_exec_signature_verify(want, (const unsigned char *)"other", 5,
                                    body, strlen(body), 1700000000LL, 300),
       "verify: refused with another secret");
    ok(webot_exec_signature_verify(apr_pstrcat(P, "t=1700000000,v1=00ff,",
                                               want + 13, NULL),
                                   SECRET, SECRET_LEN, body, strlen(body),
                                   1700000000LL, 300),
       "verify: any of several v1 values");
    ok(!webot_exec_signature_verify("v1=2a27", SECRET, SECRET_LEN, body,
                                    strlen(body), 1700000000LL, 300),
       "verify: refused without t");
    ok(!webot_exec_signature_verify("t=1700000000,t=1700000000,v1=2a",
                                    SECRET, SECRET_LEN, body, strlen(body),
                                    1700000000LL, 300),
       "verify: refused with two t");
    ok(!webot_exec_signature_verify(NULL, SECRET, SECRET_LEN, body,
                                    strlen(body), 1700000000LL, 300),
       "verify: refused without a header");
}

static webot_exec_outcome_e classify(long status, const char *body,
                                     const char **d, int *rr,
                                     const char **why)
{
    return webot_exec_classify(P, status, body, strlen(body), d, rr, why);
}

static void test_classify(void)
{
    const char *d, *why;
    int rr;
    json_t *j;

    ok(classify(200, "{\"deliverable\":{\"summary\":\"S\",\"text\":\"T\","
                "\"files\":[{\"name\":\"a.txt\",\"url\":\"https://x/a\","
                "\"size_bytes\":3,\"junk\":1}],\"x\":1},"
                "\"review_required\":false}", &d, &rr, &why)
       == WEBOT_EXEC_OK && !rr, "200 with a deliverable: ok");
    j = json_loads(d ? d : "", 0, NULL);
    ok(j && !strcmp(json_string_value(json_object_get(j, "summary")), "S")
       && json_object_size(j) == 3
       && json_object_size(json_array_get(json_object_get(j, "files"), 0))
          == 3,
       "the deliverable is normalised (unknown keys dropped)");
    json_decref(j);
    ok(classify(200, "{\"deliverable\":{\"summary\":\"S\"},"
                "\"review_required\":true}", &d, &rr, &why)
       == WEBOT_EXEC_OK && rr && strstr(d, "\"text\":\"\""),
       "review_required is passed on; text defaults to empty");
    ok(classify(422, "{\"error\":\"bad\"}", &d, &rr, &why)
       == WEBOT_EXEC_PERMANENT && strstr(why, "HTTP 422"),
       "4xx is permanent, with the status in the reason");
    ok(classify(503, "busy", &d, &rr, &why) == WEBOT_EXEC_RETRY,
       "5xx is retried");
    ok(classify(429, "", &d, &rr, &why) == WEBOT_EXEC_RETRY
       && classify(408, "", &d, &rr, &why) == WEBOT_EXEC_RETRY,
       "408 and 429 are retried");
    ok(classify(302, "", &d, &rr, &why) == WEBOT_EXEC_PERMANENT,
       "a redirect is permanent (not followed)");
    ok(classify(200, "not json", &d, &rr, &why) == WEBOT_EXEC_PERMANENT,
       "200 with a non-JSON body is permanent");
    ok(classify(200, "{\"deliverable\":{\"summary\":\"\"}}", &d, &rr, &why)
       == WEBOT_EXEC_PERMANENT, "an empty summary is refused");
    ok(classify(200, "{\"deliverable\":{\"summary\":\"S\",\"files\":"
                "[{\"name\":\"a\",\"url\":\"file:///etc/passwd\"}]}}",
                &d, &rr, &why) == WEBOT_EXEC_PERMANENT,
       "a file URL other than http(s) is refused");
    ok(classify(200, "{\"deliverable\":{\"summary\":\"S\"},"
                "\"review_required\":\"yes\"}", &d, &rr, &why)
       == WEBOT_EXEC_PERMANENT, "a non-boolean review_required is refused");
    ok(classify(500, "\x01\x02secret\n", &d, &rr, &why) == WEBOT_EXEC_RETRY
       && !strchr(why, '\n') && !strchr(why, '\x01'),
       "the reason carries printable characters only");
}

static void test_brief(void)
{
    webot_wjob_t job;
    json_t *files = json_pack("[{s:s,s:s,s:s,s:i,s:s,s:s}]",
        "file_id", "file_1", "filename", "a.csv", "content_type", "text/csv",
        "size_bytes", 12, "url", "https://h/dl?sig=x",
        "expires_at", "2030-01-01T00:00:00Z");
    json_t *b;
    const char *text;

    memset(&job, 0, sizeof(job));
    job.id = "job_abc";
    job.family = "create_polish";
    job.option = "tone_rewrites_copy_polish";
    job.title = "T";
    job.intake = "{\"tone\":\"warm\"}";
    job.metadata = "{}";
    job.revision_count = 2;
    job.revision_notes = "shorter please";
    job.attempts = 3;
    job.created_at = "2030-01-01T00:00:00Z";
    text = webot_exec_brief(P, &job, files, 1700000000LL);
    b = json_loads(text, 0, NULL);
    ok(b && !strcmp(json_string_value(json_object_get(b, "id")), "job_abc")
       && json_integer_value(json_object_get(b, "attempt")) == 3,
       "brief: id and attempt");
    ok(b && !strcmp(json_string_value(json_object_get(
           json_object_get(b, "intake"), "tone")), "warm"),
       "brief: intake");
    ok(b && json_integer_value(json_object_get(json_object_get(b,
           "revision"), "number")) == 2
       && !strcmp(json_string_value(json_object_get(json_object_get(b,
           "revision"), "notes")), "shorter please"),
       "brief: revision number and notes");
    ok(b && !strcmp(json_string_value(json_object_get(json_array_get(
           json_object_get(b, "files"), 0), "url")), "https://h/dl?sig=x"),
       "brief: file download URL");
    json_decref(files);
    ok(b && !strcmp(json_string_value(json_object_get(b, "sent_at")),
                    "2023-11-14T22:13:20Z"), "brief: sent_at");
    json_decref(b);
    job.revision_count = 0;
    b = json_loads(webot_exec_brief(P, &job, NULL, 0), 0, NULL);
    ok(b && json_is_null(json_object_get(json_object_get(b, "revision"),
                                         "notes"))
       && json_array_size(json_object_get(b, "files")) == 0,
       "brief: no revision notes before a revision, no files");
    json_decref(b);
}

static void test_arrays(void)
{
    const char *v[] = { "a", "b c", "q\"uote", "back\\slash", NULL, "" };
    const char *lit = webot_pg_array(P, v, 6);
    apr_array_header_t *a;

    ok(!strcmp(lit, "{\"a\",\"b c\",\"q\\\"uote\",\"back\\\\slash\",NULL,"
               "\"\"}"), "array literal quoting (%s)", lit);
    a = webot_pg_array_parse(P, lit);
    ok(a && a->nelts == 6
       && !strcmp(APR_ARRAY_IDX(a, 2, const char *), "q\"uote")
       && !strcmp(APR_ARRAY_IDX(a, 3, const char *), "back\\slash")
       && APR_ARRAY_IDX(a, 4, const char *) == NULL
       && !strcmp(APR_ARRAY_IDX(a, 5, const char *), ""),
       "array literal round trip");
    a = webot_pg_array_parse(P, "{file_a,file_b}");
    ok(a && a->nelts == 2 && !strcmp(APR_ARRAY_IDX(a, 1, const char *),
                                     "file_b"), "unquoted elements");
    ok((a = webot_pg_array_parse(P, "{}")) && a->nelts == 0, "empty array");
    ok(!webot_pg_array_parse(P, "{a,") && !webot_pg_array_parse(P, "x")
       && !webot_pg_array_parse(P, "{\"a}"), "malformed literals refused");
    ok(!strcmp(webot_pg_array(P, v, 0), "{}"), "empty literal");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&P, NULL);
    test_signature();
    test_classify();
    test_brief();
    test_arrays();
    printf("1..%d\n", ntests);
    apr_pool_destroy(P);
    apr_terminate();
    return nfailed ? 1 : 0;
}
