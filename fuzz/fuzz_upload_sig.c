/* fuzz_upload_sig.c: the signed URLs of the local file store
 * (webot_upload_sig.c), as PUT /files/upload/{id} and GET
 * /files/download/{id} check them (mod_webot_files.c): the {id} must pass
 * webot_file_id_valid, ?expires= webot_parse_int(0..253402300799), then
 * ?sig= is verified over method, id, expires, the file's content type and
 * size.
 *
 *   input = NUL-separated fields: expires, sig, file id, content type,
 *           size, method (odd first byte GET, else PUT)
 *
 * Properties: a fuzzed sig never verifies unless it is the genuine one; the
 * genuine signature of the values verifies; changing any one value (method,
 * id, expires, type, size, secret) makes it fail; a malformed sig or a
 * content type with a newline is refused, never a crash. */
#include "fuzz_common.h"

#include "webot_upload_sig.h"
#include "webot_util.h"

static const unsigned char SECRET[] = "fuzz-upload-secret-0123456789abcdef";
#define SECRET_LEN (sizeof(SECRET) - 1)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    return 0;
}

static int verify(apr_pool_t *p, const unsigned char *secret, size_t slen,
                  const char *method, const char *id, long long expires,
                  const char *ctype, long long size, const char *sig)
{
    return webot_upload_sig_verify(p, secret, slen, method, id, expires,
                                   ctype, size, sig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *f[6], *method, *sig, *good;
    long long expires, fsize;

    fuzz_fields(p, data, size, f, 6);
    /* the method comes from the route, never from the client */
    method = f[5][0] & 1 ? "GET" : "PUT";

    /* the id check comes first in the handler: everything else is 404 */
    if (!webot_file_id_valid(f[2])) {
        CHECK(strlen(f[2]) != 31 || strncmp(f[2], "file_", 5)
              || strspn(f[2] + 5, "abcdefghijklmnopqrstuvwxyz234567") != 26);
        apr_pool_destroy(p);
        return 0;
    }
    if (webot_parse_int(f[0], 0, 253402300799LL, &expires)) {
        apr_pool_destroy(p);
        return 0;
    }
    if (webot_parse_int(f[4], 0, 1LL << 40, &fsize)) {
        fsize = 1024;
    }
    sig = f[1];
    good = webot_upload_sig(p, SECRET, SECRET_LEN, method, f[2], expires,
                            f[3], fsize);
    if (!good) {
        /* only a content type with a newline is unsignable */
        CHECK(strchr(f[3], '\n') != NULL);
        CHECK(!verify(p, SECRET, SECRET_LEN, method, f[2], expires, f[3],
                      fsize, sig));
        apr_pool_destroy(p);
        return 0;
    }
    CHECK(strlen(good) == WEBOT_UPLOAD_SIG_LEN);
    CHECK(verify(p, SECRET, SECRET_LEN, method, f[2], expires, f[3], fsize,
                 sig) == !strcmp(sig, good));
    CHECK(verify(p, SECRET, SECRET_LEN, method, f[2], expires, f[3], fsize,
                 good));
    CHECK(!verify(p, SECRET, SECRET_LEN - 1, method, f[2], expires, f[3],
                  fsize, good));
    CHECK(!verify(p, SECRET, SECRET_LEN, strcmp(method, "GET") ? "GET"
                                                                : "PUT",
                  f[2], expires, f[3], fsize, good));
    CHECK(!verify(p, SECRET, SECRET_LEN, method,
                  "file_aaaaaaaaaaaaaaaaaaaaaaaaaa", expires, f[3], fsize,
                  good) || !strcmp(f[2], "file_aaaaaaaaaaaaaaaaaaaaaaaaaa"));
    CHECK(!verify(p, SECRET, SECRET_LEN, method, f[2], expires + 1, f[3],
                  fsize, good));
    CHECK(!verify(p, SECRET, SECRET_LEN, method, f[2], expires,
                  apr_pstrcat(p, f[3], "x", NULL), fsize, good));
    CHECK(!verify(p, SECRET, SECRET_LEN, method, f[2], expires, f[3],
                  fsize + 1, good));
    apr_pool_destroy(p);
    return 0;
}
