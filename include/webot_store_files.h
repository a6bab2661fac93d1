/* webot_store_files.h: SQL of the files area (table files, sql/001_init.sql).
 * A file row is an upload contract first (status pending), is claimed by
 * exactly one upload (uploading; a failed upload gives it back), becomes
 * uploaded with its SHA-256, or expired when its contract ran out. Core. */
#ifndef WEBOT_STORE_FILES_H
#define WEBOT_STORE_FILES_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "webot_store.h"

typedef struct webot_file_t {
    const char *id;                 /* file_... */
    const char *account_id;
    const char *filename;           /* display only, never a path */
    const char *content_type;       /* as declared at presign */
    long long size_bytes;           /* declared, exact */
    const char *purpose;            /* job_input */
    const char *status;             /* pending|uploading|uploaded|expired */
    const char *sha256;             /* lowercase hex once uploaded, else NULL */
    const char *store;              /* local | s3 */
    apr_time_t expires_at;          /* end of the upload contract */
    apr_time_t uploaded_at;         /* 0 until uploaded */
    apr_time_t created_at;
} webot_file_t;

/* Inserts a pending contract: f->id, account_id, filename, content_type,
 * size_bytes, purpose, store and expires_at are used; f->created_at and
 * f->status are set. */
webot_dbrc_e webot_store_file_create(webot_db_t *db, apr_pool_t *p,
                                     webot_file_t *f);

/* One file by id; with account_id only that account's (other accounts'
 * files are not found), with NULL any (the caller holds a signature for
 * this id). *out is NULL when there is none. */
webot_dbrc_e webot_store_file_get(webot_db_t *db, apr_pool_t *p,
                                  const char *id, const char *account_id,
                                  webot_file_t **out);

/* Claims the contract for one upload: pending -> uploading, guarded, so of
 * concurrent uploads exactly one gets *claimed = 1. */
webot_dbrc_e webot_store_file_claim(webot_db_t *db, apr_pool_t *p,
                                    const char *id, int *claimed);
/* Gives a claim back after a failed upload: uploading -> pending (a refused
 * upload does not use up the contract). */
webot_dbrc_e webot_store_file_release(webot_db_t *db, apr_pool_t *p,
                                      const char *id);
/* Completes a claimed upload: uploading -> uploaded with the SHA-256 (hex)
 * and uploaded_at; *done = 0 when the claim was lost (expired meanwhile). */
webot_dbrc_e webot_store_file_finish(webot_db_t *db, apr_pool_t *p,
                                     const char *id, const char *sha256_hex,
                                     int *done);
/* For stores that learn of an upload afterwards (S3): pending ->
 * uploaded, guarded; sha256_hex may be NULL. */
webot_dbrc_e webot_store_file_mark_uploaded(webot_db_t *db, apr_pool_t *p,
                                            const char *id,
                                            const char *sha256_hex,
                                            int *done);

/* Files on jobs: are all `ids` (const char *) uploaded files of
 * account_id? *missing is the first id, in the order given, that is not
 * (malformed, unknown, another account's, or not uploaded), or NULL when
 * all are. */
webot_dbrc_e webot_store_files_uploaded(webot_db_t *db, apr_pool_t *p,
                                        const char *account_id,
                                        const apr_array_header_t *ids,
                                        const char **missing);

/* The files of `ids` that are uploaded files of account_id, in the order
 * given (webot_file_t *); others are left out. */
webot_dbrc_e webot_store_files_get_uploaded(webot_db_t *db, apr_pool_t *p,
                                            const char *account_id,
                                            const apr_array_header_t *ids,
                                            apr_array_header_t **out);

/* Housekeeping of the local store: marks at most `limit` local contracts
 * expired — pending ones whose contract ended, and uploading ones whose
 * contract ended more than `stale_uploading_sec` ago (an upload whose
 * process died) — and returns them (webot_file_t *: id, store, status
 * before) so that the caller deletes their partial data. Rows locked by
 * others are skipped. */
webot_dbrc_e webot_store_files_expire(webot_db_t *db, apr_pool_t *p,
                                      int limit, int stale_uploading_sec,
                                      apr_array_header_t **expired);

/* Deletes at most `limit` rows of contracts that expired more than
 * keep_days ago (their data is gone already); *deleted may be NULL. */
webot_dbrc_e webot_store_files_purge(webot_db_t *db, apr_pool_t *p,
                                     int keep_days, int limit, int *deleted);

/* S3 contracts learn of their upload only by asking the bucket: pending S3
 * files whose contract ended (at most `limit`, webot_file_t *), for the
 * caller to confirm (webot_store_file_mark_uploaded) or expire
 * (webot_store_file_expire_one). */
webot_dbrc_e webot_store_files_due_s3(webot_db_t *db, apr_pool_t *p,
                                      int limit, apr_array_header_t **out);
/* pending -> expired, guarded. */
webot_dbrc_e webot_store_file_expire_one(webot_db_t *db, apr_pool_t *p,
                                         const char *id, int *done);

/* Pending S3 files of account_id among ids (webot_file_t *), to be
 * confirmed with the bucket before a job takes them. */
webot_dbrc_e webot_store_files_pending_s3(webot_db_t *db, apr_pool_t *p,
                                          const char *account_id,
                                          const apr_array_header_t *ids,
                                          apr_array_header_t **out);

#endif
