/* webot_upload_sig.h: the signatures of the local file store's URLs. An
 * upload URL (PUT /files/upload/{id}) and a download URL (GET
 * /files/download/{id}) carry ?expires=<unix seconds>&sig=<base64url>,
 * where sig is HMAC-SHA256 with the server secret over
 *
 *     "webot-file-v1\n" METHOD "\n" FILE_ID "\n" EXPIRES "\n"
 *     CONTENT_TYPE "\n" SIZE_BYTES
 *
 * so a URL is good for one method, one file, one declared type and size,
 * until one instant. Core. */
#ifndef WEBOT_UPLOAD_SIG_H
#define WEBOT_UPLOAD_SIG_H

#include <apr_pools.h>

/* 43 characters of base64url (32 bytes). */
#define WEBOT_UPLOAD_SIG_LEN 43

/* The signature; NULL on a bad argument. */
const char *webot_upload_sig(apr_pool_t *p, const unsigned char *secret,
                             apr_size_t secret_len, const char *method,
                             const char *file_id, long long expires,
                             const char *content_type, long long size);

/* 1 when sig is the signature of these values (constant-time compare), 0
 * otherwise (including a malformed sig). */
int webot_upload_sig_verify(apr_pool_t *p, const unsigned char *secret,
                            apr_size_t secret_len, const char *method,
                            const char *file_id, long long expires,
                            const char *content_type, long long size,
                            const char *sig);

/* "file_" + 26 of [a-z2-7] (webot_id_new's alphabet): the only names the
 * store ever derives a path from. */
int webot_file_id_valid(const char *id);

#endif
