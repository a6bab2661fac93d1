/* webot_store_files.c: SQL of the files area. See include/webot_store_files.h. */
#include "webot_store_files.h"
#include "webot_upload_sig.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

#define FILE_COLS \
    "id, account_id, filename, content_type, size_bytes, purpose, status, " \
    "encode(sha256, 'hex'), store, " \
    "(extract(epoch FROM expires_at) * 1000000)::bigint, " \
    "(extract(epoch FROM uploaded_at) * 1000000)::bigint, " \
    "(extract(epoch FROM created_at) * 1000000)::bigint"

static const webot_stmt_t ST_CREATE = { "webot_files_create",
    "INSERT INTO files (id, account_id, filename, content_type, size_bytes, "
    "purpose, status, store, expires_at) VALUES (%s, %s, %s, %s, "
    "%s::bigint, %s, 'pending', %s, "
    "to_timestamp(%s::bigint / 1000000.0)) "
    "RETURNING (extract(epoch FROM created_at) * 1000000)::bigint" };

static const webot_stmt_t ST_GET = { "webot_files_get",
    "SELECT " FILE_COLS " FROM files WHERE id = %s" };

static const webot_stmt_t ST_GET_ACCT = { "webot_files_get_acct",
    "SELECT " FILE_COLS " FROM files WHERE id = %s AND account_id = %s" };

static const webot_stmt_t ST_CLAIM = { "webot_files_claim",
    "UPDATE files SET status = 'uploading' "
    "WHERE id = %s AND status = 'pending'" };

static const webot_stmt_t ST_RELEASE = { "webot_files_release",
    "UPDATE files SET status = 'pending' "
    "WHERE id = %s AND status = 'uploading'" };

static const webot_stmt_t ST_FINISH = { "webot_files_finish",
    "UPDATE files SET status = 'uploaded', sha256 = decode(%s, 'hex'), "
    "uploaded_at = now() WHERE id = %s AND status = 'uploading'" };

static const webot_stmt_t ST_MARK = { "webot_files_mark_uploaded",
    "UPDATE files SET status = 'uploaded', "
    "sha256 = CASE WHEN %s::text IS NULL THEN NULL "
    "ELSE decode(%s::text, 'hex') END, uploaded_at = now() "
    "WHERE id = %s AND status = 'pending'" };

static const webot_stmt_t ST_UPLOADED = { "webot_files_uploaded",
    "SELECT " FILE_COLS " FROM files WHERE account_id = %s "
    "AND status = 'uploaded' AND id = ANY (%s::text[])" };

static const webot_stmt_t ST_EXPIRE = { "webot_files_expire",
    "WITH due AS (SELECT id, status FROM files "
    "WHERE status IN ('pending', 'uploading') AND store = 'local' "
    "AND expires_at < now() - CASE WHEN status = 'uploading' "
    "THEN make_interval(secs => %s::int) ELSE interval '0' END "
    "ORDER BY expires_at LIMIT %s::int FOR UPDATE SKIP LOCKED) "
    "UPDATE files f SET status = 'expired' FROM due WHERE f.id = due.id "
    "RETURNING f.id, f.store, due.status" };

static const webot_stmt_t ST_PURGE = { "webot_files_purge",
    "DELETE FROM files WHERE id IN (SELECT id FROM files "
    "WHERE status = 'expired' AND expires_at < now() - "
    "make_interval(days => %s::int) LIMIT %s::int "
    "FOR UPDATE SKIP LOCKED)" };

static const webot_stmt_t ST_DUE_S3 = { "webot_files_due_s3",
    "SELECT " FILE_COLS " FROM files WHERE status = 'pending' "
    "AND store = 's3' AND expires_at < now() ORDER BY expires_at "
    "LIMIT %s::int" };

static const webot_stmt_t ST_EXPIRE_ONE = { "webot_files_expire_one",
    "UPDATE files SET status = 'expired' "
    "WHERE id = %s AND status = 'pending'" };

static const webot_stmt_t ST_PENDING_S3 = { "webot_files_pending_s3",
    "SELECT " FILE_COLS " FROM files WHERE account_id = %s "
    "AND status = 'pending' AND store = 's3' AND id = ANY (%s::text[])" };

static apr_time_t us_of(const char *v)
{
    return v ? (apr_time_t)apr_atoi64(v) : 0;
}

static webot_file_t *file_of(apr_pool_t *p, webot_rows_t *rows, int i)
{
    webot_file_t *f = apr_pcalloc(p, sizeof(*f));
    f->id = WEBOT_ROW(rows, i, 0);
    f->account_id = WEBOT_ROW(rows, i, 1);
    f->filename = WEBOT_ROW(rows, i, 2);
    f->content_type = WEBOT_ROW(rows, i, 3);
    f->size_bytes = apr_atoi64(WEBOT_ROW(rows, i, 4));
    f->purpose = WEBOT_ROW(rows, i, 5);
    f->status = WEBOT_ROW(rows, i, 6);
    f->sha256 = WEBOT_ROW(rows, i, 7);
    f->store = WEBOT_ROW(rows, i, 8);
    f->expires_at = us_of(WEBOT_ROW(rows, i, 9));
    f->uploaded_at = us_of(WEBOT_ROW(rows, i, 10));
    f->created_at = us_of(WEBOT_ROW(rows, i, 11));
    return f;
}

static const char *i64(apr_pool_t *p, long long v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)v);
}

webot_dbrc_e webot_store_file_create(webot_db_t *db, apr_pool_t *p,
                                     webot_file_t *f)
{
    webot_rows_t *rows;
    const char *args[8];
    webot_dbrc_e rc;

    args[0] = f->id;
    args[1] = f->account_id;
    args[2] = f->filename;
    args[3] = f->content_type;
    args[4] = i64(p, f->size_bytes);
    args[5] = f->purpose;
    args[6] = f->store;
    args[7] = i64(p, f->expires_at);
    rc = webot_db_select(db, p, &ST_CREATE, &rows, 8, args);
    if (rc == WEBOT_DB_OK) {
        f->status = "pending";
        f->created_at = rows->n ? us_of(WEBOT_ROW(rows, 0, 0))
                                : apr_time_now();
    }
    return rc;
}

webot_dbrc_e webot_store_file_get(webot_db_t *db, apr_pool_t *p,
                                  const char *id, const char *account_id,
                                  webot_file_t **out)
{
    webot_rows_t *rows;
    const char *args[2] = { id, account_id };
    webot_dbrc_e rc;

    *out = NULL;
    if (!webot_file_id_valid(id)) {
        return WEBOT_DB_OK;
    }
    rc = account_id ? webot_db_select(db, p, &ST_GET_ACCT, &rows, 2, args)
                    : webot_db_select(db, p, &ST_GET, &rows, 1, args);
    if (rc == WEBOT_DB_OK && rows->n) {
        *out = file_of(p, rows, 0);
    }
    return rc;
}

static webot_dbrc_e exec1(webot_db_t *db, apr_pool_t *p,
                          const webot_stmt_t *st, int n,
                          const char *const *args, int *affected)
{
    int a = 0;
    webot_dbrc_e rc = webot_db_exec(db, p, st, &a, n, args);
    if (affected) {
        *affected = rc == WEBOT_DB_OK ? a : 0;
    }
    return rc;
}

webot_dbrc_e webot_store_file_claim(webot_db_t *db, apr_pool_t *p,
                                    const char *id, int *claimed)
{
    const char *args[1] = { id };
    return exec1(db, p, &ST_CLAIM, 1, args, claimed);
}

webot_dbrc_e webot_store_file_release(webot_db_t *db, apr_pool_t *p,
                                      const char *id)
{
    const char *args[1] = { id };
    return exec1(db, p, &ST_RELEASE, 1, args, NULL);
}

webot_dbrc_e webot_store_file_finish(webot_db_t *db, apr_pool_t *p,
                                     const char *id, const char *sha256_hex,
                                     int *done)
{
    const char *args[2] = { sha256_hex, id };
    return exec1(db, p, &ST_FINISH, 2, args, done);
}

webot_dbrc_e webot_store_file_mark_uploaded(webot_db_t *db, apr_pool_t *p,
                                            const char *id,
                                            const char *sha256_hex,
                                            int *done)
{
    const char *args[3] = { sha256_hex, sha256_hex, id };
    return exec1(db, p, &ST_MARK, 3, args, done);
}

webot_dbrc_e webot_store_file_expire_one(webot_db_t *db, apr_pool_t *p,
                                         const char *id, int *done)
{
    const char *args[1] = { id };
    return exec1(db, p, &ST_EXPIRE_ONE, 1, args, done);
}

/* "{id,id}" of the well-formed ids (the others cannot match anyway). */
static const char *id_array(apr_pool_t *p, const apr_array_header_t *ids)
{
    apr_array_header_t *parts = apr_array_make(p, ids->nelts * 2 + 2,
                                               sizeof(const char *));
    int i, n = 0;
    APR_ARRAY_PUSH(parts, const char *) = "{";
    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        if (!webot_file_id_valid(id)) {
            continue;
        }
        if (n++) {
            APR_ARRAY_PUSH(parts, const char *) = ",";
        }
        APR_ARRAY_PUSH(parts, const char *) = id;
    }
    APR_ARRAY_PUSH(parts, const char *) = "}";
    return apr_array_pstrcat(p, parts, 0);
}

static webot_dbrc_e select_ids(webot_db_t *db, apr_pool_t *p,
                               const webot_stmt_t *st,
                               const char *account_id,
                               const apr_array_header_t *ids,
                               apr_array_header_t **out)
{
    webot_rows_t *rows;
    const char *args[2];
    webot_dbrc_e rc;
    apr_hash_t *by_id;
    int i;

    *out = apr_array_make(p, ids->nelts ? ids->nelts : 1,
                          sizeof(webot_file_t *));
    if (!ids->nelts) {
        return WEBOT_DB_OK;
    }
    args[0] = account_id;
    args[1] = id_array(p, ids);
    rc = webot_db_select(db, p, st, &rows, 2, args);
    if (rc != WEBOT_DB_OK) {
        return rc;
    }
    by_id = apr_hash_make(p);
    for (i = 0; i < rows->n; i++) {
        webot_file_t *f = file_of(p, rows, i);
        apr_hash_set(by_id, f->id, APR_HASH_KEY_STRING, f);
    }
    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        webot_file_t *f = id ? apr_hash_get(by_id, id, APR_HASH_KEY_STRING)
                             : NULL;
        if (f) {
            APR_ARRAY_PUSH(*out, webot_file_t *) = f;
            apr_hash_set(by_id, id, APR_HASH_KEY_STRING, NULL);
        }
    }
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_store_files_get_uploaded(webot_db_t *db, apr_pool_t *p,
                                            const char *account_id,
                                            const apr_array_header_t *ids,
                                            apr_array_header_t **out)
{
    return select_ids(db, p, &ST_UPLOADED, account_id, ids, out);
}

webot_dbrc_e webot_store_files_pending_s3(webot_db_t *db, apr_pool_t *p,
                                          const char *account_id,
                                          const apr_array_header_t *ids,
                                          apr_array_header_t **out)
{
    return select_ids(db, p, &ST_PENDING_S3, account_id, ids, out);
}

webot_dbrc_e webot_store_files_uploaded(webot_db_t *db, apr_pool_t *p,
                                        const char *account_id,
                                        const apr_array_header_t *ids,
                                        const char **missing)
{
    apr_array_header_t *found;
    webot_dbrc_e rc;
    int i, j = 0;

    *missing = NULL;
    rc = webot_store_files_get_uploaded(db, p, account_id, ids, &found);
    if (rc != WEBOT_DB_OK) {
        return rc;
    }
    /* found keeps the order of ids: walk both */
    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        if (j < found->nelts && id
            && !strcmp(APR_ARRAY_IDX(found, j, webot_file_t *)->id, id)) {
            j++;
            continue;
        }
        *missing = id ? id : "";
        return WEBOT_DB_OK;
    }
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_store_files_expire(webot_db_t *db, apr_pool_t *p,
                                      int limit, int stale_uploading_sec,
                                      apr_array_header_t **expired)
{
    webot_rows_t *rows;
    const char *args[2];
    webot_dbrc_e rc;
    int i;

    args[0] = apr_itoa(p, stale_uploading_sec);
    args[1] = apr_itoa(p, limit);
    *expired = apr_array_make(p, 4, sizeof(webot_file_t *));
    rc = webot_db_select(db, p, &ST_EXPIRE, &rows, 2, args);
    if (rc != WEBOT_DB_OK) {
        return rc;
    }
    for (i = 0; i < rows->n; i++) {
        webot_file_t *f = apr_pcalloc(p, sizeof(*f));
        f->id = WEBOT_ROW(rows, i, 0);
        f->store = WEBOT_ROW(rows, i, 1);
        f->status = WEBOT_ROW(rows, i, 2);
        APR_ARRAY_PUSH(*expired, webot_file_t *) = f;
    }
    return WEBOT_DB_OK;
}

webot_dbrc_e webot_store_files_purge(webot_db_t *db, apr_pool_t *p,
                                     int keep_days, int limit, int *deleted)
{
    const char *args[2];
    args[0] = apr_itoa(p, keep_days);
    args[1] = apr_itoa(p, limit);
    return exec1(db, p, &ST_PURGE, 2, args, deleted);
}

webot_dbrc_e webot_store_files_due_s3(webot_db_t *db, apr_pool_t *p,
                                      int limit, apr_array_header_t **out)
{
    webot_rows_t *rows;
    const char *args[1];
    webot_dbrc_e rc;
    int i;

    args[0] = apr_itoa(p, limit);
    *out = apr_array_make(p, 4, sizeof(webot_file_t *));
    rc = webot_db_select(db, p, &ST_DUE_S3, &rows, 1, args);
    if (rc != WEBOT_DB_OK) {
        return rc;
    }
    for (i = 0; i < rows->n; i++) {
        APR_ARRAY_PUSH(*out, webot_file_t *) = file_of(p, rows, i);
    }
    return WEBOT_DB_OK;
}
