/* webot_upload_sig.c: HMAC signatures of the local store's URLs. */
#include "webot_upload_sig.h"
#include "webot_util.h"

#include <apr_strings.h>
#include <string.h>

#include <openssl/crypto.h>

int webot_file_id_valid(const char *id)
{
    int i;
    if (!id || strncmp(id, "file_", 5)) {
        return 0;
    }
    for (i = 0; i < 26; i++) {
        char c = id[5 + i];
        if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) {
            return 0;
        }
    }
    return id[31] == '\0';
}

static int sign_raw(apr_pool_t *p, const unsigned char *secret,
                    apr_size_t secret_len, const char *method,
                    const char *file_id, long long expires,
                    const char *content_type, long long size,
                    unsigned char out[WEBOT_SHA256_LEN])
{
    char *msg;
    int rc;
    if (!secret || !secret_len || !method || !file_id || !content_type
        || strchr(content_type, '\n') || expires < 0 || size < 0) {
        return -1;
    }
    msg = apr_psprintf(p, "webot-file-v1\n%s\n%s\n%" APR_INT64_T_FMT "\n%s\n%"
                       APR_INT64_T_FMT, method, file_id, (apr_int64_t)expires,
                       content_type, (apr_int64_t)size);
    rc = webot_hmac_sha256(secret, secret_len, msg, strlen(msg), out);
    return rc;
}

const char *webot_upload_sig(apr_pool_t *p, const unsigned char *secret,
                             apr_size_t secret_len, const char *method,
                             const char *file_id, long long expires,
                             const char *content_type, long long size)
{
    unsigned char mac[WEBOT_SHA256_LEN];
    if (sign_raw(p, secret, secret_len, method, file_id, expires,
                 content_type, size, mac)) {
        return NULL;
    }
    return webot_b64url(p, mac, sizeof(mac));
}

int webot_upload_sig_verify(apr_pool_t *p, const unsigned char *secret,
                            apr_size_t secret_len, const char *method,
                            const char *file_id, long long expires,
                            const char *content_type, long long size,
                            const char *sig)
{
    unsigned char mac[WEBOT_SHA256_LEN], *given = NULL;
    long n;
    int eq;
    if (!sig || strlen(sig) != WEBOT_UPLOAD_SIG_LEN) {
        return 0;
    }
    n = webot_unb64url(p, sig, &given);
    if (n != WEBOT_SHA256_LEN) {
        return 0;
    }
    if (sign_raw(p, secret, secret_len, method, file_id, expires,
                 content_type, size, mac)) {
        return 0;
    }
    eq = webot_ct_equal(mac, sizeof(mac), given, (apr_size_t)n);
    OPENSSL_cleanse(mac, sizeof(mac));
    return eq;
}
