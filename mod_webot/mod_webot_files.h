/* mod_webot_files.h: schemas, error lists and handlers of the files routes
 * (rows in routes_files.inc), the files directives, and the functions the
 * jobs and worker glue call (files on jobs, executor download URLs,
 * housekeeping). */
#ifndef MOD_WEBOT_FILES_H
#define MOD_WEBOT_FILES_H

#include "mod_webot.h"
#include "webot_store_files.h"

/* --- schemas ------------------------------------------------------------ */

#define S_FILE_PRESIGN \
    "{\"type\":\"object\",\"additionalProperties\":false," \
    "\"required\":[\"filename\",\"content_type\",\"size_bytes\"," \
      "\"purpose\"]," \
    "\"properties\":{" \
    "\"filename\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":255," \
      "\"description\":\"Shown to people and executors; never used as a " \
      "path. No control characters.\"}," \
    "\"content_type\":{\"type\":\"string\",\"minLength\":3," \
      "\"maxLength\":255,\"description\":\"A media type of the server's " \
      "allow-list (WebotUploadContentTypes), optionally with a charset " \
      "parameter. The upload must send exactly this Content-Type.\"}," \
    "\"size_bytes\":{\"type\":\"integer\",\"minimum\":1,\"description\":" \
      "\"The exact size of the file; at most the plan's " \
      "max_upload_bytes.\"}," \
    "\"purpose\":{\"type\":\"string\",\"enum\":[\"job_input\"]}}}"

#define X_FILE_PRESIGN \
    "{\"filename\":\"brief.pdf\",\"content_type\":\"application/pdf\"," \
    "\"size_bytes\":482133,\"purpose\":\"job_input\"}"

#define S_FILE_CONTRACT \
    "{\"type\":\"object\",\"required\":[\"file_id\",\"filename\"," \
    "\"content_type\",\"size_bytes\",\"purpose\",\"status\",\"upload\"," \
    "\"max_bytes\"],\"properties\":{" \
    "\"file_id\":{\"type\":\"string\"}," \
    "\"filename\":{\"type\":\"string\"}," \
    "\"content_type\":{\"type\":\"string\"}," \
    "\"size_bytes\":{\"type\":\"integer\"}," \
    "\"purpose\":{\"type\":\"string\"}," \
    "\"status\":{\"type\":\"string\",\"enum\":[\"pending\"]}," \
    "\"upload\":{\"type\":\"object\",\"required\":[\"method\",\"url\"," \
      "\"headers\",\"expires_at\"],\"properties\":{" \
      "\"method\":{\"type\":\"string\",\"enum\":[\"PUT\"]}," \
      "\"url\":{\"type\":\"string\",\"description\":\"Local store: " \
        "/api/v1/files/upload/{id}?expires=...&sig=...; S3 store: an AWS " \
        "Signature V4 presigned URL of the bucket.\"}," \
      "\"headers\":{\"type\":\"object\",\"description\":\"Headers the " \
        "PUT must carry, exactly.\",\"additionalProperties\":" \
        "{\"type\":\"string\"}}," \
      "\"expires_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}," \
    "\"max_bytes\":{\"type\":\"integer\",\"description\":\"The most " \
      "bytes the upload may carry (the declared size).\"}}}"

#define X_FILE_CONTRACT \
    "{\"file_id\":\"file_k2v6q3xw7mbf4jz5rt2hdy6cna\",\"filename\":" \
    "\"brief.pdf\",\"content_type\":\"application/pdf\",\"size_bytes\":" \
    "482133,\"purpose\":\"job_input\",\"status\":\"pending\",\"upload\":{" \
    "\"method\":\"PUT\",\"url\":\"https://api.example.com/api/v1/files/" \
    "upload/file_k2v6q3xw7mbf4jz5rt2hdy6cna?expires=1767225900&sig=" \
    "Qm9ndXMtZXhhbXBsZS1zaWduYXR1cmUtb2YtNDMtY2hy\",\"headers\":{" \
    "\"Content-Type\":\"application/pdf\"},\"expires_at\":" \
    "\"2026-01-01T00:05:00Z\"},\"max_bytes\":482133}"

#define S_FILE_OBJECT \
    "{\"type\":\"object\",\"required\":[\"file_id\",\"filename\"," \
    "\"content_type\",\"size_bytes\",\"sha256\",\"status\"," \
    "\"uploaded_at\"],\"properties\":{" \
    "\"file_id\":{\"type\":\"string\"}," \
    "\"filename\":{\"type\":\"string\"}," \
    "\"content_type\":{\"type\":\"string\"}," \
    "\"size_bytes\":{\"type\":\"integer\"}," \
    "\"sha256\":{\"type\":\"string\",\"description\":\"Lowercase hex " \
      "SHA-256 of the bytes received.\"}," \
    "\"status\":{\"type\":\"string\",\"enum\":[\"uploaded\"]}," \
    "\"uploaded_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"

#define X_FILE_OBJECT \
    "{\"file_id\":\"file_k2v6q3xw7mbf4jz5rt2hdy6cna\",\"filename\":" \
    "\"brief.pdf\",\"content_type\":\"application/pdf\",\"size_bytes\":" \
    "482133,\"sha256\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c" \
    "d15d6c15b0f00a08\",\"status\":\"uploaded\",\"uploaded_at\":" \
    "\"2026-01-01T00:01:12Z\"}"

static const webot_param_t P_FILE_SIGNED[] = {
    { "expires", "query", "{\"type\":\"integer\"}",
      "Unix time (seconds) until which the URL is valid; part of the "
      "signed URL." },
    { "sig", "query", "{\"type\":\"string\",\"pattern\":"
      "\"^[A-Za-z0-9_-]{43}$\"}",
      "HMAC-SHA256 signature (base64url); part of the signed URL." },
    { NULL, NULL, NULL, NULL }
};

static const char *const E_FILE_PRESIGN[] = { "BAD_REQUEST",
    "UNAUTHORIZED", "FORBIDDEN", "CSRF_FAILED", "ENTITLEMENT_REQUIRED",
    "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "VALIDATION_ERROR",
    "RATE_LIMITED", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_FILE_UPLOAD[] = { "BAD_REQUEST", "FORBIDDEN",
    "NOT_FOUND", "INVALID_STATE", "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR",
    NULL };
static const char *const E_FILE_DOWNLOAD[] = { "FORBIDDEN", "NOT_FOUND",
    "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };

/* --- handlers ------------------------------------------------------------ */

int webot_h_file_presign(webot_req_t *wr);
int webot_h_file_upload(webot_req_t *wr);
int webot_h_file_download(webot_req_t *wr);

/* --- directives and hooks (mod_webot.c puts these in place) -------------- */

const char *webot_files_set_store(cmd_parms *cmd, void *d, const char *arg);
const char *webot_files_set_region(cmd_parms *cmd, void *d, const char *arg);
const char *webot_files_set_endpoint(cmd_parms *cmd, void *d,
                                     const char *arg);
const char *webot_files_set_access_key(cmd_parms *cmd, void *d,
                                       const char *arg);
const char *webot_files_set_secret_key(cmd_parms *cmd, void *d,
                                       const char *arg);
const char *webot_files_set_ttl(cmd_parms *cmd, void *d, const char *arg);
const char *webot_files_set_types(cmd_parms *cmd, void *d, const char *arg);
const char *webot_files_set_base_url(cmd_parms *cmd, void *d,
                                     const char *arg);
const char *webot_files_set_housekeeping(cmd_parms *cmd, void *d,
                                         const char *arg);

#define WEBOT_FILES_CMDS \
    AP_INIT_TAKE1("WebotFileStore", webot_files_set_store, NULL, RSRC_CONF, \
                  "where uploads are kept: an absolute directory (local " \
                  "store) or s3://bucket[/prefix]"), \
    AP_INIT_TAKE1("WebotS3Region", webot_files_set_region, NULL, RSRC_CONF, \
                  "region of the S3 bucket (default us-east-1)"), \
    AP_INIT_TAKE1("WebotS3Endpoint", webot_files_set_endpoint, NULL, \
                  RSRC_CONF, "S3-compatible endpoint https://host[:port] " \
                  "(path-style); default AWS"), \
    AP_INIT_TAKE1("WebotS3AccessKeyFile", webot_files_set_access_key, NULL, \
                  RSRC_CONF, "file holding the S3 access key id"), \
    AP_INIT_TAKE1("WebotS3SecretKeyFile", webot_files_set_secret_key, NULL, \
                  RSRC_CONF, "file holding the S3 secret access key"), \
    AP_INIT_TAKE1("WebotPresignTTL", webot_files_set_ttl, NULL, RSRC_CONF, \
                  "seconds an upload contract is valid (default 900)"), \
    AP_INIT_ITERATE("WebotUploadContentTypes", webot_files_set_types, NULL, \
                    RSRC_CONF, "media types that may be uploaded (replaces " \
                    "the default list)"), \
    AP_INIT_TAKE1("WebotFileBaseURL", webot_files_set_base_url, NULL, \
                  RSRC_CONF, "absolute URL of the API root for local-store " \
                  "URLs, e.g. https://api.example.com/api/v1"), \
    AP_INIT_TAKE1("WebotFileHousekeeping", webot_files_set_housekeeping, \
                  NULL, RSRC_CONF, "seconds between housekeeping runs of " \
                  "expired upload contracts from requests (default 60, 0 " \
                  "off)")

/* Registers the files hooks (configuration checks); called from
 * webot_register_hooks. */
void webot_files_register_hooks(apr_pool_t *p);

/* --- for the jobs glue: files on jobs ------------------------------------ */

/* Every id of file_ids (a JSON array of strings, as validated by the job
 * schema; NULL = none) must be an uploaded file of the caller's account
 * (wr->auth). Pending S3 uploads are confirmed with the bucket first.
 * Returns NULL when they all are; else the error to send: 422
 * VALIDATION_ERROR with param "file_ids[N]" naming the first that is not
 * (unknown, another account's, or not uploaded — alike), or 503/500 when
 * the database failed (a webot_db_error, so the dispatcher's retry works). */
webot_error_t *webot_files_check_job_files(webot_req_t *wr,
                                           const json_t *file_ids);

/* --- for the worker: executor briefs and housekeeping ---------------------- */

/* The files of a job for the executor's brief: a JSON array (owned by p)
 * of {"file_id","filename","content_type","size_bytes","sha256","url",
 * "expires_at"} for each id (const char *) that is an uploaded file of
 * account_id, in order; url is a signed GET valid for ttl seconds (0: the
 * default, 3600): the local store's GET /files/download/{id}, or an S3
 * presigned GET. s is the server whose WebotFileStore applies (the main
 * server in a worker thread). NULL with *rc set when the database failed. */
json_t *webot_files_brief(server_rec *s, webot_db_t *db, apr_pool_t *p,
                          const char *account_id,
                          const apr_array_header_t *ids, int ttl,
                          webot_dbrc_e *rc);

/* One signed download URL (see webot_files_brief); NULL when no store is
 * configured or the URL cannot be signed (logged). */
const char *webot_files_download_url(server_rec *s, apr_pool_t *p,
                                     const webot_file_t *f, int ttl);

/* Housekeeping, for the worker to call periodically (e.g. once a minute):
 * marks upload contracts that ran out `expired` and deletes their partial
 * data (local store), or confirms/expires them with the bucket (S3); at
 * most `limit` files per call (0: 100). Returns how many files it
 * handled, or -1 when the database failed. Safe on any number of hosts at
 * once. */
int webot_files_housekeeping(server_rec *s, webot_db_t *db, apr_pool_t *p,
                             int limit);

#endif
