/* webot_filestore.h: where uploaded bytes live. One small interface with two
 * implementations (as mod_md's md_http_impl_t or mod_auth_openidc's cache
 * backends):
 *
 *   local  a directory (WebotFileStore /var/lib/webot/files). Uploads go
 *          through this server: PUT /api/v1/files/upload/{id} streams into
 *          <dir>/<id>.part and renames to <dir>/<id>; downloads through
 *          GET /api/v1/files/download/{id}; both URLs signed with the server
 *          secret (webot_upload_sig.h).
 *   s3     a bucket (WebotFileStore s3://bucket[/prefix]). Uploads and
 *          downloads go straight to the bucket with AWS Signature V4
 *          presigned URLs (webot_sigv4.h); the server learns of an upload by
 *          asking the bucket (HEAD, signed).
 *
 * Paths and object keys come only from the file id (webot_file_id_valid),
 * never from a filename. Core: APR, libcrypto, libcurl. */
#ifndef WEBOT_FILESTORE_H
#define WEBOT_FILESTORE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <apr_file_io.h>
#include <sys/uio.h>

#include "webot_sigv4.h"
#include "webot_store_files.h"

typedef struct webot_filestore_t webot_filestore_t;

typedef struct webot_filestore_ops_t {
    const char *name;               /* "local" | "s3": files.store */
    /* The upload contract of a pending file: the URL to PUT to until
     * f->expires_at, and the headers the client must send (added to
     * headers). api_root is the absolute URL of the API ("https://host
     * /api/v1"; local only). Returns NULL or a message. */
    const char *(*upload_url)(const webot_filestore_t *fs, apr_pool_t *p,
                              const webot_file_t *f, const char *api_root,
                              apr_time_t now, const char **url,
                              apr_table_t *headers);
    /* A GET URL of an uploaded file valid for ttl seconds from now. */
    const char *(*download_url)(const webot_filestore_t *fs, apr_pool_t *p,
                                const webot_file_t *f, const char *api_root,
                                apr_time_t now, int ttl, const char **url);
    /* Deletes what the store holds of a file id, partial data included
     * (housekeeping of expired contracts). Nothing there is success. */
    apr_status_t (*remove)(const webot_filestore_t *fs, apr_pool_t *p,
                           const char *id);
    /* Is the object there? *size = its length, or -1 when it is not;
     * *ctype its content type (may be NULL). Returns NULL, or a message
     * when the store could not be asked. */
    const char *(*stat)(const webot_filestore_t *fs, apr_pool_t *p,
                        const webot_file_t *f, apr_off_t *size,
                        const char **ctype);
} webot_filestore_ops_t;

struct webot_filestore_t {
    const webot_filestore_ops_t *ops;
    const unsigned char *secret;    /* the server secret (local URLs) */
    apr_size_t secret_len;
    const char *dir;                /* local: absolute directory */
    /* s3 */
    const char *bucket;
    const char *prefix;             /* "" or "some/prefix/" */
    const char *endpoint;           /* "https://host[:port]" (path-style) or
                                     * NULL: https://BUCKET.s3.REGION.
                                     * amazonaws.com */
    webot_sigv4_creds_t creds;      /* service "s3" */
    long timeout_ms;                /* for stat */
};

extern const webot_filestore_ops_t webot_filestore_local_ops;
extern const webot_filestore_ops_t webot_filestore_s3_ops;

/* Parses a WebotFileStore value: an absolute directory, or
 * s3://bucket[/prefix]. The s3 fields besides bucket and prefix are filled
 * in by the caller (region, endpoint, credentials). Returns NULL or a
 * message. */
const char *webot_filestore_parse(apr_pool_t *p, const char *spec,
                                  webot_filestore_t **out);
/* Checks an S3 endpoint value ("https://host[:port]", no path). */
const char *webot_filestore_check_endpoint(apr_pool_t *p, const char *url);

/* --- the local store's files --------------------------------------------- */

/* <dir>/<id> (complete) or <dir>/<id>.part (being written); NULL for a
 * malformed id. */
const char *webot_filestore_local_path(const webot_filestore_t *fs,
                                       apr_pool_t *p, const char *id,
                                       int partial);

/* A streamed write of one upload: bytes go to <id>.part and into a SHA-256
 * as they arrive; commit renames the complete file into place. Until then a
 * cleanup on p removes the partial file, so every way out of a failed
 * upload leaves nothing behind. */
typedef struct webot_fs_writer_t webot_fs_writer_t;

apr_status_t webot_fs_writer_open(const webot_filestore_t *fs, apr_pool_t *p,
                                  const char *id, webot_fs_writer_t **out);
apr_status_t webot_fs_writer_write(webot_fs_writer_t *w, const void *buf,
                                   apr_size_t len);
/* The same for n pieces at once (one writev: no copy into a buffer).
 * With a hasher thread (webot_fs_writer_parallel) the pieces are hashed
 * while the caller goes on: their memory must stay valid until the next
 * writev / write / sync / commit / abort returns. */
apr_status_t webot_fs_writer_writev(webot_fs_writer_t *w,
                                    const struct iovec *vec, int n);
/* Hashes in a thread of its own from now on (for big uploads: the SHA-256
 * then overlaps with reading and writing). Without threads APR_ENOTIMPL,
 * and hashing stays inline. */
apr_status_t webot_fs_writer_parallel(webot_fs_writer_t *w);
/* Waits until every piece handed over is hashed. */
void webot_fs_writer_sync(webot_fs_writer_t *w);
apr_off_t webot_fs_writer_bytes(const webot_fs_writer_t *w);
/* Flushes, closes and renames; *sha256_hex is the digest (lowercase
 * hex). */
apr_status_t webot_fs_writer_commit(webot_fs_writer_t *w,
                                    const char **sha256_hex);
/* Closes and deletes the partial file (idempotent). */
void webot_fs_writer_abort(webot_fs_writer_t *w);

#endif
