/* fuzz_executor.c: what the job worker does with an executor's bytes
 * (webot_executor.c): the X-Webot-Signature check and the answer's
 * classification (status + JSON deliverable).
 *
 *   input = byte 0: mode, then
 *     mode 0: signature header, NUL, body: verified at a fixed now; then
 *             the body is signed for real and must verify, and must not
 *             with one byte changed
 *     mode 1: bytes 1-2 an HTTP status, the rest the answer body:
 *             webot_exec_classify
 *
 * Properties: retry exactly for 408, 429 and 5xx; permanent for other
 * non-2xx; an OK answer has a deliverable that is a JSON object with a
 * summary, a text and a files array; every refusal says why. */
#include "fuzz_common.h"

#include "webot_executor.h"
#include "webot_json.h"

#define NOW 1700000000LL
static const unsigned char SECRET[] = "fuzz-executor-secret-0123456789ab";
#define SECRET_LEN (sizeof(SECRET) - 1)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    if (size < 2) {
        return 0;
    }
    p = fuzz_pool();
    if (!(data[0] & 1)) {
        const uint8_t *nul = memchr(data + 1, 0, size - 1);
        size_t hlen = nul ? (size_t)(nul - data - 1) : size - 1;
        const char *header = apr_pstrmemdup(p, (const char *)data + 1, hlen);
        const char *body = nul ? (const char *)nul + 1 : "";
        size_t blen = nul ? size - 1 - hlen - 1 : 0;
        const char *good;
        char *changed;

        (void)webot_exec_signature_verify(header, SECRET, SECRET_LEN, body,
                                          blen, NOW, 300);
        good = webot_exec_signature(p, SECRET, SECRET_LEN, NOW - 5, body,
                                    blen);
        CHECK(good != NULL);
        CHECK(webot_exec_signature_verify(good, SECRET, SECRET_LEN, body,
                                          blen, NOW, 300));
        CHECK(!webot_exec_signature_verify(good, SECRET, SECRET_LEN - 1,
                                           body, blen, NOW, 300));
        CHECK(!webot_exec_signature_verify(good, SECRET, SECRET_LEN, body,
                                           blen, NOW + 1000, 300));
        changed = fuzz_copy_extra(p, body, blen, 1);
        changed[blen] = 'x';
        CHECK(!webot_exec_signature_verify(good, SECRET, SECRET_LEN, changed,
                                           blen + 1, NOW, 300));
    }
    else {
        long status = size > 2 ? (long)((data[1] << 8 | data[2]) % 700) : 200;
        const char *body = size > 3 ? (const char *)data + 3 : "";
        size_t len = size > 3 ? size - 3 : 0;
        const char *deliverable = NULL, *why = NULL;
        int review = -1;
        webot_exec_outcome_e rc;

        body = apr_pstrmemdup(p, body, len);
        rc = webot_exec_classify(p, status, body, len, &deliverable, &review,
                                 &why);
        if (status >= 500 || status == 408 || status == 429) {
            CHECK(rc == WEBOT_EXEC_RETRY);
        }
        else if (status < 200 || status >= 300) {
            CHECK(rc == WEBOT_EXEC_PERMANENT);
        }
        if (rc == WEBOT_EXEC_OK) {
            const char *e = NULL;
            json_t *d;
            CHECK(deliverable != NULL && (review == 0 || review == 1));
            d = webot_json_parse(p, deliverable, strlen(deliverable), &e);
            CHECK(json_is_object(d));
            CHECK(json_is_string(json_object_get(d, "summary")));
            CHECK(json_is_string(json_object_get(d, "text")));
            CHECK(json_is_array(json_object_get(d, "files")));
        }
        else {
            CHECK(why != NULL && deliverable == NULL);
        }
    }
    apr_pool_destroy(p);
    return 0;
}
