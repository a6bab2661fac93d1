/* mod_webot_files.c: the files routes (presign, the local store's upload and
 * download), the files directives, files on jobs, executor download URLs
 * and the housekeeping of expired upload contracts. The bytes and URLs
 * are the file store's business (webot_filestore.h, local or s3); the rows
 * the store layer's (webot_store_files.h). */
#include "mod_webot_files.h"
#include "webot_filestore.h"
#include "webot_upload_sig.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_buckets.h>
#include <http_core.h>
#include <http_main.h>
#include <util_filter.h>

#define DEFAULT_TTL           900
#define DEFAULT_DOWNLOAD_TTL  3600
#define STALE_UPLOADING_SECS  21600     /* a claim whose process died */
#define HOUSEKEEPING_EVERY    60        /* lazy runs from presign, seconds */
#define READ_CHUNK            (128 * 1024)
#define EXPIRED_KEEP_DAYS     7         /* rows of expired contracts */

/* The default allow-list: documents and images. Not HTML or SVG (active
 * content), not archives or executables. */
static const char *const default_types[] = {
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/csv",
    "application/json",
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml."
        "presentation",
    "application/vnd.oasis.opendocument.text",
    "application/rtf",
    NULL
};

/* --- configuration ------------------------------------------------------------ */

/* Per server, kept beside the module's server config (a table by server_rec
 * built while the configuration is read, in pconf; read-only once httpd
 * runs). Unset values inherit the main server's in post_config. */
typedef struct files_cfg {
    const char *spec;               /* WebotFileStore as given */
    webot_filestore_t *fs;          /* complete after post_config */
    const char *region;
    const char *endpoint;
    const char *access_key;
    const char *secret_key;
    int ttl;                        /* WEBOT_UNSET */
    apr_array_header_t *types;      /* const char *, NULL = default */
    const char *base_url;
    int housekeeping;               /* seconds between lazy runs, 0 = off,
                                     * WEBOT_UNSET */
} files_cfg;

static apr_hash_t *cfgs;            /* server_rec * -> files_cfg */

static apr_status_t cfgs_reset(void *d)
{
    (void)d;
    cfgs = NULL;
    return APR_SUCCESS;
}

static files_cfg *cfg_for_cmd(cmd_parms *cmd)
{
    files_cfg *c;
    if (!cfgs) {
        cfgs = apr_hash_make(cmd->pool);
        apr_pool_cleanup_register(cmd->pool, NULL, cfgs_reset,
                                  apr_pool_cleanup_null);
    }
    c = apr_hash_get(cfgs, &cmd->server, sizeof(server_rec *));
    if (!c) {
        server_rec **key = apr_palloc(cmd->pool, sizeof(*key));
        *key = cmd->server;
        c = apr_pcalloc(cmd->pool, sizeof(*c));
        c->ttl = WEBOT_UNSET;
        c->housekeeping = WEBOT_UNSET;
        apr_hash_set(cfgs, key, sizeof(*key), c);
    }
    return c;
}

static files_cfg *cfg_of(server_rec *s)
{
    files_cfg *c = cfgs ? apr_hash_get(cfgs, &s, sizeof(server_rec *))
                        : NULL;
    if (!c && cfgs) {
        c = apr_hash_get(cfgs, &ap_server_conf, sizeof(server_rec *));
    }
    return c;
}

static int cfg_ttl(const files_cfg *c)
{
    return c && c->ttl != WEBOT_UNSET ? c->ttl : DEFAULT_TTL;
}

const char *webot_files_set_store(cmd_parms *cmd, void *d, const char *arg)
{
    files_cfg *c = cfg_for_cmd(cmd);
    webot_filestore_t *fs;
    const char *err;
    (void)d;
    if ((err = webot_filestore_parse(cmd->pool, arg, &fs))) {
        return apr_pstrcat(cmd->pool, "WebotFileStore: ", err, NULL);
    }
    if (fs->dir) {
        apr_finfo_t fi;
        apr_status_t rv = apr_stat(&fi, fs->dir, APR_FINFO_TYPE, cmd->pool);
        if (rv != APR_SUCCESS || fi.filetype != APR_DIR) {
            return apr_psprintf(cmd->pool, "WebotFileStore: %s is not a "
                                "directory (create it, writable by the "
                                "httpd user)", fs->dir);
        }
    }
    c->spec = arg;
    c->fs = fs;
    return NULL;
}

const char *webot_files_set_region(cmd_parms *cmd, void *d, const char *arg)
{
    files_cfg *c = cfg_for_cmd(cmd);
    const char *s;
    (void)d;
    for (s = arg; *s; s++) {
        if (!(apr_islower(*s) || apr_isdigit(*s) || *s == '-')) {
            break;
        }
    }
    if (!*arg || *s || strlen(arg) > 32) {
        return apr_psprintf(cmd->pool, "WebotS3Region: \"%s\" is not a "
                            "region name like us-east-1", arg);
    }
    c->region = arg;
    return NULL;
}

const char *webot_files_set_endpoint(cmd_parms *cmd, void *d,
                                     const char *arg)
{
    files_cfg *c = cfg_for_cmd(cmd);
    const char *err;
    apr_size_t n = strlen(arg);
    (void)d;
    while (n && arg[n - 1] == '/') {
        n--;
    }
    arg = apr_pstrmemdup(cmd->pool, arg, n);
    if ((err = webot_filestore_check_endpoint(cmd->pool, arg))) {
        return apr_pstrcat(cmd->pool, "WebotS3Endpoint: ", err, NULL);
    }
    c->endpoint = arg;
    return NULL;
}

static const char *set_key_file(cmd_parms *cmd, const char *directive,
                                const char *arg, const char **out)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    const unsigned char *v;
    apr_size_t len, i;
    const char *err;
    if (!path) {
        return apr_pstrcat(cmd->pool, directive, ": invalid path ", arg,
                           NULL);
    }
    if ((err = webot_read_secret_file(cmd->pool, directive, path, &v, &len,
                                      1))) {
        return err;
    }
    for (i = 0; i < len; i++) {
        if (v[i] < 0x21 || v[i] > 0x7e) {
            return apr_psprintf(cmd->pool, "%s: %s must hold one line of "
                                "printable ASCII", directive, path);
        }
    }
    *out = (const char *)v;
    return NULL;
}

const char *webot_files_set_access_key(cmd_parms *cmd, void *d,
                                       const char *arg)
{
    (void)d;
    return set_key_file(cmd, "WebotS3AccessKeyFile", arg,
                        &cfg_for_cmd(cmd)->access_key);
}

const char *webot_files_set_secret_key(cmd_parms *cmd, void *d,
                                       const char *arg)
{
    (void)d;
    return set_key_file(cmd, "WebotS3SecretKeyFile", arg,
                        &cfg_for_cmd(cmd)->secret_key);
}

const char *webot_files_set_ttl(cmd_parms *cmd, void *d, const char *arg)
{
    files_cfg *c = cfg_for_cmd(cmd);
    long long v;
    const char *err = webot_parse_directive_int(cmd->pool, "WebotPresignTTL",
                                                arg, 10, 604800, &v);
    (void)d;
    if (!err) {
        c->ttl = (int)v;
    }
    return err;
}

/* A media type as it is compared: lower case, "type/subtype" of token
 * characters, optionally "; charset=value"; NULL when malformed. */
static const char *media_type_norm(apr_pool_t *p, const char *in)
{
    static const char tspecial[] = "()<>@,;:\\\"/[]?={} \t";
    char *s, *o, *semi;
    const char *c;
    int slash = 0;
    apr_size_t n;

    if (!in) {
        return NULL;
    }
    while (*in == ' ' || *in == '\t') {
        in++;
    }
    s = apr_pstrdup(p, in);
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
    semi = strchr(s, ';');
    if (semi) {
        *semi = '\0';
    }
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
    for (o = s; *o; o++) {
        if (*o == '/') {
            if (slash++ || o == s || !o[1]) {
                return NULL;
            }
            continue;
        }
        if ((unsigned char)*o < 0x21 || (unsigned char)*o > 0x7e
            || strchr(tspecial, *o)) {
            return NULL;
        }
        *o = (char)apr_tolower(*o);
    }
    if (!slash) {
        return NULL;
    }
    if (!semi) {
        return s;
    }
    c = semi + 1;
    while (*c == ' ' || *c == '\t') {
        c++;
    }
    if (strncasecmp(c, "charset=", 8) || !c[8]) {
        return NULL;
    }
    c += 8;
    {
        char *cs = apr_pstrdup(p, c);
        for (o = cs; *o; o++) {
            if (!(apr_isalnum(*o) || *o == '-' || *o == '_' || *o == '.'
                  || *o == ':')) {
                return NULL;
            }
            *o = (char)apr_tolower(*o);
        }
        return apr_pstrcat(p, s, "; charset=", cs, NULL);
    }
}

const char *webot_files_set_types(cmd_parms *cmd, void *d, const char *arg)
{
    files_cfg *c = cfg_for_cmd(cmd);
    const char *t = media_type_norm(cmd->pool, arg);
    (void)d;
    if (!t || strchr(t, ';')) {
        return apr_psprintf(cmd->pool, "WebotUploadContentTypes: \"%s\" is "
                            "not a media type like application/pdf", arg);
    }
    if (!c->types) {
        c->types = apr_array_make(cmd->pool, 8, sizeof(const char *));
    }
    APR_ARRAY_PUSH(c->types, const char *) = t;
    return NULL;
}

const char *webot_files_set_housekeeping(cmd_parms *cmd, void *d,
                                         const char *arg)
{
    files_cfg *c = cfg_for_cmd(cmd);
    long long v;
    const char *err = webot_parse_directive_int(cmd->pool,
        "WebotFileHousekeeping", arg, 0, 86400, &v);
    (void)d;
    if (!err) {
        c->housekeeping = (int)v;
    }
    return err;
}

const char *webot_files_set_base_url(cmd_parms *cmd, void *d,
                                     const char *arg)
{
    files_cfg *c = cfg_for_cmd(cmd);
    apr_size_t n = strlen(arg);
    const char *s;
    (void)d;
    while (n && arg[n - 1] == '/') {
        n--;
    }
    arg = apr_pstrmemdup(cmd->pool, arg, n);
    if (strncmp(arg, "https://", 8) && strncmp(arg, "http://", 7)) {
        return apr_psprintf(cmd->pool, "WebotFileBaseURL: \"%s\" must be an "
                            "absolute http(s) URL", arg);
    }
    for (s = arg; *s; s++) {
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e
            || *s == '?' || *s == '#') {
            return apr_psprintf(cmd->pool, "WebotFileBaseURL: \"%s\" may "
                                "not contain spaces, '?' or '#'", arg);
        }
    }
    c->base_url = arg;
    return NULL;
}

/* Completes each server's store from its own and the main server's
 * settings; stops start-up on an S3 store without credentials. */
static int files_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    files_cfg *main_c;
    server_rec *v;
    (void)plog;
    (void)ptemp;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || !cfgs) {
        return OK;
    }
    main_c = apr_hash_get(cfgs, &s, sizeof(server_rec *));
    for (v = s; v; v = v->next) {
        webot_srv_cfg *sc = ap_get_module_config(v->module_config,
                                                 &webot_module);
        files_cfg *c = apr_hash_get(cfgs, &v, sizeof(server_rec *));
        webot_filestore_t *fs;
        if (!c) {
            server_rec **key = apr_palloc(pconf, sizeof(*key));
            *key = v;
            c = apr_pcalloc(pconf, sizeof(*c));
            c->ttl = WEBOT_UNSET;
            c->housekeeping = WEBOT_UNSET;
            apr_hash_set(cfgs, key, sizeof(*key), c);
        }
        if (main_c && c != main_c) {
            if (!c->spec) {
                c->spec = main_c->spec;
                c->fs = main_c->fs;
            }
            c->region = c->region ? c->region : main_c->region;
            c->endpoint = c->endpoint ? c->endpoint : main_c->endpoint;
            c->access_key = c->access_key ? c->access_key
                                          : main_c->access_key;
            c->secret_key = c->secret_key ? c->secret_key
                                          : main_c->secret_key;
            c->ttl = c->ttl != WEBOT_UNSET ? c->ttl : main_c->ttl;
            c->housekeeping = c->housekeeping != WEBOT_UNSET
                              ? c->housekeeping : main_c->housekeeping;
            c->types = c->types ? c->types : main_c->types;
            c->base_url = c->base_url ? c->base_url : main_c->base_url;
        }
        if (!c->fs) {
            continue;
        }
        /* a copy per server: the secret and S3 settings may differ */
        fs = apr_pmemdup(pconf, c->fs, sizeof(*fs));
        fs->secret = sc->secret;
        fs->secret_len = sc->secret_len;
        if (fs->ops == &webot_filestore_s3_ops) {
            if (!c->access_key || !c->secret_key) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, v, APLOGNO(30500)
                             "WebotFileStore %s needs WebotS3AccessKeyFile "
                             "and WebotS3SecretKeyFile", c->spec);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            fs->creds.access_key = c->access_key;
            fs->creds.secret_key = c->secret_key;
            fs->creds.region = c->region ? c->region : "us-east-1";
            fs->creds.service = "s3";
            fs->endpoint = c->endpoint;
        }
        else if (c->endpoint || c->access_key || c->secret_key) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, v, APLOGNO(30501)
                         "WebotS3* directives are ignored: WebotFileStore "
                         "%s is a local directory", c->spec);
        }
        c->fs = fs;
    }
    return OK;
}

void webot_files_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(files_post_config, NULL, NULL, APR_HOOK_MIDDLE);
}

/* The request's store, or NULL (answered 503 by the routes). */
static const webot_filestore_t *store_of(server_rec *s)
{
    files_cfg *c = cfg_of(s);
    return c && c->fs && (c->fs->secret || c->fs->ops
                          == &webot_filestore_s3_ops) ? c->fs : NULL;
}

static int no_store(webot_req_t *wr)
{
    return webot_fail(wr, "SERVICE_UNAVAILABLE",
                      "File uploads are not configured on this server "
                      "(WebotFileStore).");
}

static int type_allowed(apr_pool_t *p, const files_cfg *c,
                        const char *norm)
{
    const char *base = norm;
    const char *semi = strchr(norm, ';');
    int i;
    if (semi) {
        base = apr_pstrmemdup(p, norm, (apr_size_t)(semi - norm));
    }
    if (c && c->types) {
        for (i = 0; i < c->types->nelts; i++) {
            if (!strcmp(APR_ARRAY_IDX(c->types, i, const char *), base)) {
                return 1;
            }
        }
        return 0;
    }
    for (i = 0; default_types[i]; i++) {
        if (!strcmp(default_types[i], base)) {
            return 1;
        }
    }
    return 0;
}

static const char *allowed_list(apr_pool_t *p, const files_cfg *c)
{
    apr_array_header_t *a;
    int i;
    if (c && c->types) {
        a = c->types;
    }
    else {
        a = apr_array_make(p, 16, sizeof(const char *));
        for (i = 0; default_types[i]; i++) {
            APR_ARRAY_PUSH(a, const char *) = default_types[i];
        }
    }
    {
        apr_array_header_t *parts = apr_array_make(p, a->nelts * 2,
                                                   sizeof(const char *));
        for (i = 0; i < a->nelts; i++) {
            if (i) {
                APR_ARRAY_PUSH(parts, const char *) = ", ";
            }
            APR_ARRAY_PUSH(parts, const char *) = APR_ARRAY_IDX(a, i,
                                                                const char *);
        }
        return apr_array_pstrcat(p, parts, 0);
    }
}

/* --- URLs ------------------------------------------------------------------- */

/* The absolute URL of the API root: WebotFileBaseURL, or this request's
 * scheme, host and <Location>. */
static const char *api_root_of(webot_req_t *wr, const files_cfg *c)
{
    webot_dir_cfg *dc;
    const char *loc;
    if (c && c->base_url) {
        return c->base_url;
    }
    dc = ap_get_module_config(wr->r->per_dir_config, &webot_module);
    loc = dc && dc->location ? dc->location
                             : webot_mount_default[WEBOT_MOUNT_API];
    if (!strcmp(loc, "/")) {
        loc = "";
    }
    return ap_construct_url(wr->p, loc, wr->r);
}

/* Outside a request (the worker): WebotFileBaseURL, or the server's name
 * and port with the default /api/v1. */
static const char *api_root_of_server(server_rec *s, apr_pool_t *p,
                                      const files_cfg *c)
{
    apr_port_t port;
    const char *host;
    if (c && c->base_url) {
        return c->base_url;
    }
    port = s->port ? s->port : (s->addrs ? s->addrs->host_port : 80);
    host = s->server_hostname ? s->server_hostname : "localhost";
    if (port == 443) {
        return apr_pstrcat(p, "https://", host,
                           webot_mount_default[WEBOT_MOUNT_API], NULL);
    }
    return apr_psprintf(p, "http://%s%s%s", host,
                        port == 80 ? "" : apr_psprintf(p, ":%u",
                                                       (unsigned)port),
                        webot_mount_default[WEBOT_MOUNT_API]);
}

const char *webot_files_download_url(server_rec *s, apr_pool_t *p,
                                     const webot_file_t *f, int ttl)
{
    files_cfg *c = cfg_of(s);
    const webot_filestore_t *fs = store_of(s);
    const char *url = NULL, *err;
    if (!fs) {
        return NULL;
    }
    err = fs->ops->download_url(fs, p, f, api_root_of_server(s, p, c),
                                apr_time_now(),
                                ttl > 0 ? ttl : DEFAULT_DOWNLOAD_TTL, &url);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30502)
                     "cannot sign a download URL for %s: %s", f->id, err);
        return NULL;
    }
    return url;
}

json_t *webot_files_brief(server_rec *s, webot_db_t *db, apr_pool_t *p,
                          const char *account_id,
                          const apr_array_header_t *ids, int ttl,
                          webot_dbrc_e *rc)
{
    apr_array_header_t *files;
    json_t *out;
    int i;

    if (ttl <= 0) {
        ttl = DEFAULT_DOWNLOAD_TTL;
    }
    *rc = webot_store_files_get_uploaded(db, p, account_id, ids, &files);
    if (*rc != WEBOT_DB_OK) {
        return NULL;
    }
    out = webot_json_own(p, json_array());
    for (i = 0; i < files->nelts; i++) {
        const webot_file_t *f = APR_ARRAY_IDX(files, i, webot_file_t *);
        const char *url = webot_files_download_url(s, p, f, ttl);
        json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:I,s:s?,s:s?,"
                                             "s:s}",
            "file_id", f->id, "filename", f->filename,
            "content_type", f->content_type,
            "size_bytes", (json_int_t)f->size_bytes,
            "sha256", f->sha256,
            "url", url,
            "expires_at", webot_time_rfc3339(p, apr_time_now()
                                             + apr_time_from_sec(ttl), 0)));
    }
    return out;
}

/* --- housekeeping ------------------------------------------------------------- */

/* Asks the bucket whether a pending S3 upload arrived: complete and of the
 * declared size -> uploaded. Returns 1 when it is uploaded now, 0 when
 * not, -1 when the bucket could not be asked. */
static int s3_settle(server_rec *s, const webot_filestore_t *fs,
                     webot_db_t *db, apr_pool_t *p, const webot_file_t *f,
                     webot_dbrc_e *rc)
{
    apr_off_t size;
    const char *ctype, *err;
    int done = 0;

    *rc = WEBOT_DB_OK;
    err = fs->ops->stat(fs, p, f, &size, &ctype);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30503)
                     "S3: cannot check the upload of %s: %s", f->id, err);
        return -1;
    }
    if (size < 0) {
        return 0;
    }
    if (size != (apr_off_t)f->size_bytes) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30504)
                     "S3: object of %s has %" APR_OFF_T_FMT " bytes, not the "
                     "declared %" APR_INT64_T_FMT, f->id, size,
                     (apr_int64_t)f->size_bytes);
        return 0;
    }
    *rc = webot_store_file_mark_uploaded(db, p, f->id, NULL, &done);
    return *rc == WEBOT_DB_OK && done ? 1 : 0;
}

int webot_files_housekeeping(server_rec *s, webot_db_t *db, apr_pool_t *p,
                             int limit)
{
    const webot_filestore_t *fs = store_of(s);
    apr_array_header_t *expired;
    webot_dbrc_e rc;
    int i, n = 0;

    if (limit <= 0) {
        limit = 100;
    }
    rc = webot_store_files_expire(db, p, limit, STALE_UPLOADING_SECS,
                                  &expired);
    if (rc != WEBOT_DB_OK) {
        return -1;
    }
    for (i = 0; i < expired->nelts; i++) {
        const webot_file_t *f = APR_ARRAY_IDX(expired, i, webot_file_t *);
        apr_status_t rv = APR_SUCCESS;
        if (fs && fs->ops == &webot_filestore_local_ops) {
            rv = fs->ops->remove(fs, p, f->id);
        }
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(30505)
                         "cannot remove the partial upload of expired %s",
                         f->id);
        }
        n++;
    }
    if (fs && fs->ops == &webot_filestore_s3_ops) {
        apr_array_header_t *due;
        rc = webot_store_files_due_s3(db, p, limit, &due);
        if (rc != WEBOT_DB_OK) {
            return -1;
        }
        for (i = 0; i < due->nelts; i++) {
            const webot_file_t *f = APR_ARRAY_IDX(due, i, webot_file_t *);
            int st = s3_settle(s, fs, db, p, f, &rc), done;
            if (rc != WEBOT_DB_OK) {
                return -1;
            }
            if (st == 0) {
                rc = webot_store_file_expire_one(db, p, f->id, &done);
                if (rc != WEBOT_DB_OK) {
                    return -1;
                }
            }
            if (st >= 0) {
                n++;
            }
        }
    }
    {
        int purged = 0;
        rc = webot_store_files_purge(db, p, EXPIRED_KEEP_DAYS, limit, &purged);
        if (rc != WEBOT_DB_OK) {
            return -1;
        }
    }
    if (n) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30506)
                     "files housekeeping: %d upload contract%s settled", n,
                     n == 1 ? "" : "s");
    }
    return n;
}

/* At most once a minute per process, from presign (until a worker runs
 * housekeeping on its own schedule; running both is harmless). */
static void lazy_housekeeping(webot_req_t *wr, webot_db_t *db,
                              const files_cfg *c)
{
    static volatile apr_uint32_t last;
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t prev = apr_atomic_read32(&last);
    int every = c && c->housekeeping != WEBOT_UNSET ? c->housekeeping
                                                    : HOUSEKEEPING_EVERY;
    apr_pool_t *sub;

    if (!every || now - prev < (apr_uint32_t)every
        || apr_atomic_cas32(&last, now, prev) != prev) {
        return;
    }
    apr_pool_create(&sub, wr->p);
    apr_pool_tag(sub, "webot_files_housekeeping");
    if (webot_files_housekeeping(wr->r->server, db, sub, 100) < 0) {
        /* the database is gone: try again on a later request */
        apr_atomic_set32(&last, prev);
    }
    apr_pool_destroy(sub);
}

/* --- files on jobs ------------------------------------------------------------- */

webot_error_t *webot_files_check_job_files(webot_req_t *wr,
                                           const json_t *file_ids)
{
    apr_array_header_t *ids;
    const webot_filestore_t *fs;
    const char *missing = NULL;
    webot_error_t *err = NULL;
    webot_db_t *db;
    webot_dbrc_e rc;
    size_t i;
    int j;

    if (!file_ids || !json_is_array(file_ids) || !json_array_size(file_ids)) {
        return NULL;
    }
    ids = apr_array_make(wr->p, (int)json_array_size(file_ids),
                         sizeof(const char *));
    for (i = 0; i < json_array_size(file_ids); i++) {
        const char *id = json_string_value(json_array_get(file_ids, i));
        APR_ARRAY_PUSH(ids, const char *) = id ? id : "";
    }
    if (!(db = webot_req_db(wr, &err))) {
        return err;
    }
    fs = store_of(wr->r->server);
    if (fs && fs->ops == &webot_filestore_s3_ops) {
        apr_array_header_t *pending;
        rc = webot_store_files_pending_s3(db, wr->p, wr->auth->account_id,
                                          ids, &pending);
        if (rc != WEBOT_DB_OK) {
            return webot_db_error(wr->p, rc);
        }
        for (j = 0; j < pending->nelts; j++) {
            s3_settle(wr->r->server, fs, db, wr->p,
                      APR_ARRAY_IDX(pending, j, webot_file_t *), &rc);
            if (rc != WEBOT_DB_OK) {
                return webot_db_error(wr->p, rc);
            }
        }
    }
    rc = webot_store_files_uploaded(db, wr->p, wr->auth->account_id, ids,
                                    &missing);
    if (rc != WEBOT_DB_OK) {
        return webot_db_error(wr->p, rc);
    }
    if (!missing) {
        return NULL;
    }
    for (j = 0; j < ids->nelts; j++) {
        if (!strcmp(APR_ARRAY_IDX(ids, j, const char *), missing)) {
            break;
        }
    }
    err = webot_error_make(wr->p, "VALIDATION_ERROR",
        "file_ids[%d] (%s) is not an uploaded file of this account: "
        "presign it with POST /api/v1/files/presign and upload it first.",
        j, ap_escape_logitem(wr->p, missing));
    webot_error_add_param(wr->p, err, apr_psprintf(wr->p, "file_ids[%d]", j),
        apr_psprintf(wr->p, "%s is not an uploaded file of this account",
                     ap_escape_logitem(wr->p, missing)));
    return err;
}

/* --- POST /files/presign --------------------------------------------------------- */

/* Display names: UTF-8 (the JSON reader checked), no C0, DEL or C1
 * control characters (U+0080..U+009F), no line or paragraph separators. */
static int filename_ok(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    for (; *u; u++) {
        if (*u < 0x20 || *u == 0x7f) {
            return 0;
        }
        if (*u == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f) {
            return 0;
        }
        if (*u == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9)) {
            return 0;
        }
    }
    return 1;
}

static json_t *contract_json(apr_pool_t *p, const webot_file_t *f,
                             const char *url, apr_table_t *headers)
{
    json_t *h = json_object();
    const apr_array_header_t *arr = apr_table_elts(headers);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;
    for (i = 0; i < arr->nelts; i++) {
        json_object_set_new(h, e[i].key, json_string(e[i].val));
    }
    return json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:{s:s,s:s,s:o,s:s},s:I}",
        "file_id", f->id, "filename", f->filename,
        "content_type", f->content_type,
        "size_bytes", (json_int_t)f->size_bytes,
        "purpose", f->purpose, "status", "pending",
        "upload", "method", "PUT", "url", url, "headers", h,
        "expires_at", webot_time_rfc3339(p, f->expires_at, 0),
        "max_bytes", (json_int_t)f->size_bytes);
}

int webot_h_file_presign(webot_req_t *wr)
{
    files_cfg *c = cfg_of(wr->r->server);
    const webot_filestore_t *fs = store_of(wr->r->server);
    const char *filename = webot_json_str(wr->body, "filename");
    const char *ctype_in = webot_json_str(wr->body, "content_type");
    json_t *jsize = json_object_get(wr->body, "size_bytes");
    long long size = json_is_integer(jsize) ? json_integer_value(jsize) : 0;
    long long max = wr->auth && wr->auth->plan
                    ? wr->auth->plan->max_upload_bytes : 0;
    const char *ctype, *url = NULL, *err;
    apr_table_t *headers;
    webot_error_t *e = NULL;
    webot_file_t *f;
    webot_db_t *db;
    webot_dbrc_e rc;
    apr_time_t now;

    if (!fs) {
        return no_store(wr);
    }
    if (!wr->auth) {
        return webot_fail(wr, "UNAUTHORIZED", "A valid API key or dashboard "
                          "session is required.");
    }
    /* the schema (types, presence, unknown fields) and the value rules,
     * every problem reported at once */
    e = webot_error_make(wr->p, "VALIDATION_ERROR",
                         "The request body is not valid.");
    if (!json_is_object(wr->body)) {
        webot_error_add_param(wr->p, e, NULL, "the request body must be a "
                              "JSON object");
        return webot_send_error(wr, e);
    }
    webot_schema_validate(wr->p, webot_route_request_schema(wr->route),
                          wr->body, "", e);
    if (filename && !filename_ok(filename)) {
        webot_error_add_param(wr->p, e, "filename", "filename may not "
                              "contain control characters");
    }
    ctype = media_type_norm(wr->p, ctype_in);
    if (ctype_in && (!ctype || !type_allowed(wr->p, c, ctype))) {
        webot_error_add_param(wr->p, e, "content_type", apr_psprintf(wr->p,
            "%s is not an accepted upload type (accepted: %s)",
            ctype ? ctype : "this value",
            allowed_list(wr->p, c)));
    }
    if (json_is_integer(jsize) && size >= 1 && size > max) {
        webot_error_add_param(wr->p, e, "size_bytes", apr_psprintf(wr->p,
            "size_bytes must be from 1 to %" APR_INT64_T_FMT " (the plan's "
            "max_upload_bytes)", (apr_int64_t)(max > 0 ? max : 0)));
    }
    if (json_array_size(e->details)) {
        if (max > 0 && size > max && json_array_size(e->details) == 1) {
            e->message = apr_psprintf(wr->p, "The file is larger than your "
                "plan allows (%" APR_INT64_T_FMT " bytes).",
                (apr_int64_t)max);
        }
        return webot_send_error(wr, e);
    }

    e = NULL;
    if (!(db = webot_req_db(wr, &e))) {
        return webot_send_error(wr, e);
    }
    now = apr_time_now();
    f = apr_pcalloc(wr->p, sizeof(*f));
    f->id = webot_id_new(wr->p, "file_");
    if (!f->id) {
        return webot_fail(wr, "INTERNAL_ERROR",
                          "An internal error occurred; it has been logged.");
    }
    f->account_id = wr->auth->account_id;
    f->filename = filename;
    f->content_type = ctype;
    f->size_bytes = size;
    f->purpose = "job_input";
    f->store = fs->ops->name;
    /* whole seconds: the URL carries the expiry in seconds */
    f->expires_at = apr_time_from_sec(apr_time_sec(now) + cfg_ttl(c));
    headers = apr_table_make(wr->p, 2);
    err = fs->ops->upload_url(fs, wr->p, f, api_root_of(wr, c), now, &url,
                              headers);
    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, wr->r, APLOGNO(30507)
                      "cannot sign the upload URL of %s: %s (request_id %s)",
                      f->id, err, wr->request_id);
        return webot_fail(wr, "INTERNAL_ERROR",
                          "An internal error occurred; it has been logged.");
    }
    rc = webot_store_file_create(db, wr->p, f);
    if (rc != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    lazy_housekeeping(wr, db, c);
    return webot_send_json(wr, HTTP_CREATED,
                           webot_json_own(wr->p, contract_json(wr->p, f, url,
                                                               headers)));
}

/* --- the signed URL of the local store ------------------------------------------ */

/* Checks ?expires=&sig= for method on f. NULL when good; else the 403. */
static webot_error_t *check_signature(webot_req_t *wr,
                                      const webot_filestore_t *fs,
                                      const char *method,
                                      const webot_file_t *f)
{
    apr_table_t *q = webot_query(wr);
    const char *exp_s = q ? apr_table_get(q, "expires") : NULL;
    const char *sig = q ? apr_table_get(q, "sig") : NULL;
    long long expires;

    if (!exp_s || !sig || webot_parse_int(exp_s, 0, 253402300799LL, &expires)
        || !f
        || !webot_upload_sig_verify(wr->p, fs->secret, fs->secret_len,
                                    method, f->id, expires, f->content_type,
                                    f->size_bytes, sig)) {
        return webot_error_make(wr->p, "FORBIDDEN",
            "The signature of this URL is missing or not valid; use the URL "
            "exactly as POST /api/v1/files/presign returned it.");
    }
    if (expires < (long long)apr_time_sec(apr_time_now())) {
        webot_error_t *e = webot_error_make(wr->p, "FORBIDDEN",
            "This URL expired at %s; request a new one.",
            webot_time_rfc3339(wr->p, apr_time_from_sec(expires), 0));
        e->suggested_action = "revise_request";
        e->suggested_endpoint = !strcmp(method, "PUT")
                                ? "POST /api/v1/files/presign" : NULL;
        return e;
    }
    return NULL;
}

static int refuse_unread(webot_req_t *wr, webot_error_t *e)
{
    /* the body was not read: do not let httpd read and discard it */
    wr->r->connection->keepalive = AP_CONN_CLOSE;
    return webot_send_error(wr, e);
}

static webot_error_t *invalid_state(webot_req_t *wr, const char *status,
                                    const char *msg)
{
    webot_error_t *e = webot_error_make(wr->p, "INVALID_STATE", "%s", msg);
    json_array_append_new(e->details, json_pack("{s:s,s:[]}", "status",
                                                status, "allowed_actions"));
    if (!strcmp(status, "uploading")) {
        e->suggested_action = "wait";
    }
    return e;
}

/* The refusal of a file that is not pending (after a valid signature). */
static webot_error_t *not_pending(webot_req_t *wr, const webot_file_t *f)
{
    if (!strcmp(f->status, "uploaded")) {
        return invalid_state(wr, "uploaded", "This file was uploaded "
                             "already; an upload contract is accepted "
                             "once.");
    }
    if (!strcmp(f->status, "uploading")) {
        return invalid_state(wr, "uploading", "Another upload of this file "
                             "is in progress.");
    }
    return webot_error_make(wr->p, "FORBIDDEN", "This upload contract has "
                            "expired; request a new one.");
}

#define MAX_IOVEC 64
#define PARALLEL_HASH_FROM (1024 * 1024)  /* bytes: a hasher thread */

static webot_error_t *write_vec(webot_req_t *wr, webot_fs_writer_t *w,
                                struct iovec *vec, int n)
{
    apr_status_t rv = webot_fs_writer_writev(w, vec, n);
    if (rv != APR_SUCCESS) {
        wr->r->connection->keepalive = AP_CONN_CLOSE;
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, wr->r, APLOGNO(30508)
                      "cannot write an upload to the file store "
                      "(request_id %s)", wr->request_id);
        return webot_error_make(wr->p, "INTERNAL_ERROR",
            "An internal error occurred; it has been logged.");
    }
    return NULL;
}

/* Streams the request body into w; at most max bytes. Two brigades take
 * turns: the data of one goes to the file with one writev (no copy) and to
 * the hasher thread, while the next is read from the network; a brigade is
 * emptied only once its data is hashed. Returns NULL, or the error (413
 * over max, 400 on a broken body). */
static webot_error_t *stream_body(webot_req_t *wr, webot_fs_writer_t *w,
                                  apr_off_t max)
{
    request_rec *r = wr->r;
    apr_bucket_brigade *bb[2];
    struct iovec vec[MAX_IOVEC];
    int handed[2] = { 0, 0 };
    webot_error_t *e = NULL;
    int eos = 0, cur = 0, nvec, i;
    apr_off_t pending;
    apr_status_t rv;

    bb[0] = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    bb[1] = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    if (max >= PARALLEL_HASH_FROM) {
        webot_fs_writer_parallel(w);    /* inline hashing if it cannot */
    }
    while (!eos && !e) {
        apr_bucket *b;
        if (handed[cur]) {
            webot_fs_writer_sync(w);
            handed[0] = handed[1] = 0;
        }
        apr_brigade_cleanup(bb[cur]);
        rv = ap_get_brigade(r->input_filters, bb[cur], AP_MODE_READBYTES,
                            APR_BLOCK_READ, READ_CHUNK);
        if (rv != APR_SUCCESS) {
            if (rv == AP_FILTER_ERROR || APR_STATUS_IS_ENOSPC(rv)) {
                /* LimitRequestBody and the like */
                e = webot_error_make(wr->p, "PAYLOAD_TOO_LARGE",
                    "The upload is larger than this server accepts.");
            }
            else {
                e = webot_error_make(wr->p, "BAD_REQUEST",
                    "The upload body could not be read completely.");
            }
            break;
        }
        nvec = 0;
        pending = 0;
        for (b = APR_BRIGADE_FIRST(bb[cur]);
             b != APR_BRIGADE_SENTINEL(bb[cur]) && !e;
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;
            if (APR_BUCKET_IS_EOS(b)) {
                eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b)) {
                continue;
            }
            /* transient data (mod_ssl's) would change under the hasher */
            if (APR_BUCKET_IS_TRANSIENT(b)
                && apr_bucket_setaside(b, r->pool) != APR_SUCCESS) {
                e = webot_error_make(wr->p, "BAD_REQUEST",
                    "The upload body could not be read completely.");
                break;
            }
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                e = webot_error_make(wr->p, "BAD_REQUEST",
                    "The upload body could not be read completely.");
                break;
            }
            if (webot_fs_writer_bytes(w) + pending + (apr_off_t)len > max) {
                e = webot_error_make(wr->p, "PAYLOAD_TOO_LARGE",
                    "The upload is larger than the declared %"
                    APR_OFF_T_FMT " bytes.", max);
                break;
            }
            if (!len) {
                continue;
            }
            vec[nvec].iov_base = (void *)data;
            vec[nvec].iov_len = len;
            pending += (apr_off_t)len;
            if (++nvec == MAX_IOVEC) {
                e = write_vec(wr, w, vec, nvec);
                handed[1 - cur] = 0;
                handed[cur] = 1;
                nvec = 0;
                pending = 0;
            }
        }
        if (!e && nvec) {
            e = write_vec(wr, w, vec, nvec);
            handed[1 - cur] = 0;
            handed[cur] = 1;
        }
        cur = 1 - cur;
    }
    /* nothing may still read the brigades' memory */
    webot_fs_writer_sync(w);
    for (i = 0; i < 2; i++) {
        apr_brigade_destroy(bb[i]);
    }
    if (e) {
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    return e;
}

int webot_h_file_upload(webot_req_t *wr)
{
    request_rec *r = wr->r;
    const webot_filestore_t *fs = store_of(r->server);
    const char *cl, *ct, *sha = NULL;
    webot_error_t *e = NULL;
    webot_fs_writer_t *w;
    webot_file_t *f;
    webot_db_t *db;
    webot_dbrc_e rc;
    apr_status_t rv;
    int claimed = 0, done = 0;

    if (!webot_file_id_valid(wr->id)) {
        return refuse_unread(wr, webot_error_make(wr->p, "NOT_FOUND",
                             "No such file."));
    }
    if (!fs) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return no_store(wr);
    }
    if (fs->ops != &webot_filestore_local_ops) {
        /* with S3 the bucket takes the uploads, not this server */
        return refuse_unread(wr, webot_error_make(wr->p, "NOT_FOUND",
            "Uploads of this server go to its S3 bucket; use the URL that "
            "POST /api/v1/files/presign returned."));
    }
    if (!(db = webot_req_db(wr, &e))) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return webot_send_error(wr, e);
    }
    rc = webot_store_file_get(db, wr->p, wr->id, NULL, &f);
    if (rc != WEBOT_DB_OK) {
        /* (a lost connection is retried once by the dispatcher: nothing of
         * the body has been read yet) */
        r->connection->keepalive = AP_CONN_CLOSE;
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    /* the signature first: without it nothing about the file is told */
    if ((e = check_signature(wr, fs, "PUT", f))) {
        return refuse_unread(wr, e);
    }
    if (strcmp(f->status, "pending")) {
        return refuse_unread(wr, not_pending(wr, f));
    }
    ct = media_type_norm(wr->p, apr_table_get(r->headers_in, "Content-Type"));
    if (!ct || strcmp(ct, f->content_type)) {
        return refuse_unread(wr, webot_error_make(wr->p,
            "UNSUPPORTED_MEDIA_TYPE", "This upload must be sent with "
            "Content-Type: %s, as declared.", f->content_type));
    }
    cl = apr_table_get(r->headers_in, "Content-Length");
    if (cl) {
        apr_off_t n;
        char *end;
        if (apr_strtoff(&n, cl, &end, 10) != APR_SUCCESS || *end || n < 0) {
            return refuse_unread(wr, webot_error_make(wr->p, "BAD_REQUEST",
                                 "The Content-Length header is not valid."));
        }
        if (n > (apr_off_t)f->size_bytes) {
            return refuse_unread(wr, webot_error_make(wr->p,
                "PAYLOAD_TOO_LARGE", "The upload is larger (%" APR_OFF_T_FMT
                " bytes) than the declared %" APR_INT64_T_FMT " bytes.", n,
                (apr_int64_t)f->size_bytes));
        }
    }
    rc = webot_store_file_claim(db, wr->p, f->id, &claimed);
    if (rc != WEBOT_DB_OK) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    if (!claimed) {
        /* another upload got there first (or housekeeping expired it) */
        rc = webot_store_file_get(db, wr->p, wr->id, NULL, &f);
        if (rc != WEBOT_DB_OK || !f) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return webot_send_error(wr, webot_db_error(wr->p,
                rc != WEBOT_DB_OK ? rc : WEBOT_DB_ERROR));
        }
        return refuse_unread(wr, not_pending(wr, f));
    }

    /* From here the body is being consumed: no retry of the handler. */
    wr->attempt = 1;
    rv = webot_fs_writer_open(fs, wr->p, f->id, &w);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(30509)
                      "cannot create %s in the file store %s (request_id "
                      "%s)", f->id, fs->dir, wr->request_id);
        e = webot_error_make(wr->p, "INTERNAL_ERROR",
                             "An internal error occurred; it has been "
                             "logged.");
        r->connection->keepalive = AP_CONN_CLOSE;
        goto release;
    }
    if ((e = stream_body(wr, w, (apr_off_t)f->size_bytes))) {
        webot_fs_writer_abort(w);
        goto release;
    }
    if (webot_fs_writer_bytes(w) != (apr_off_t)f->size_bytes) {
        e = webot_error_make(wr->p, "BAD_REQUEST",
            "The upload has %" APR_OFF_T_FMT " bytes, not the declared %"
            APR_INT64_T_FMT "; nothing was kept.", webot_fs_writer_bytes(w),
            (apr_int64_t)f->size_bytes);
        webot_fs_writer_abort(w);
        goto release;
    }
    rv = webot_fs_writer_commit(w, &sha);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(30510)
                      "cannot complete %s in the file store (request_id %s)",
                      f->id, wr->request_id);
        e = webot_error_make(wr->p, "INTERNAL_ERROR",
                             "An internal error occurred; it has been "
                             "logged.");
        goto release;
    }
    rc = webot_store_file_finish(db, wr->p, f->id, sha, &done);
    if (rc != WEBOT_DB_OK || !done) {
        /* not recorded: the bytes must not stay */
        fs->ops->remove(fs, wr->p, f->id);
        if (rc != WEBOT_DB_OK) {
            e = webot_db_error(wr->p, rc);
            goto release;
        }
        return webot_send_error(wr, webot_error_make(wr->p, "FORBIDDEN",
            "This upload contract expired during the upload; request a new "
            "one."));
    }
    f->status = "uploaded";
    f->sha256 = sha;
    return webot_send_json(wr, HTTP_OK, webot_json_own(wr->p,
        json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s}",
                  "file_id", f->id, "filename", f->filename,
                  "content_type", f->content_type,
                  "size_bytes", (json_int_t)f->size_bytes,
                  "sha256", sha, "status", "uploaded",
                  "uploaded_at", webot_time_rfc3339(wr->p, apr_time_now(),
                                                    0))));

release:
    /* a refused upload does not use up the contract */
    if (webot_store_file_release(db, wr->p, f->id) != WEBOT_DB_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30511)
                      "cannot release the upload claim of %s; it expires "
                      "with its contract (request_id %s)", f->id,
                      wr->request_id);
    }
    return webot_send_error(wr, e);
}

/* --- GET /files/download/{id} ------------------------------------------------------ */

/* Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266). */
static const char *disposition(apr_pool_t *p, const char *name)
{
    char *ascii = apr_pstrdup(p, name), *c;
    for (c = ascii; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e || *c == '"'
            || *c == '\\' || *c == '/' || *c == ';') {
            *c = '_';
        }
    }
    return apr_pstrcat(p, "attachment; filename=\"", ascii,
                       "\"; filename*=UTF-8''",
                       webot_sigv4_uri_encode(p, name, strlen(name), 0),
                       NULL);
}

int webot_h_file_download(webot_req_t *wr)
{
    request_rec *r = wr->r;
    const webot_filestore_t *fs = store_of(r->server);
    const char *path;
    webot_error_t *e = NULL;
    webot_file_t *f;
    webot_db_t *db;
    webot_dbrc_e rc;
    apr_file_t *fd;
    apr_finfo_t fi;
    apr_status_t rv;

    if (!webot_file_id_valid(wr->id)) {
        return webot_fail(wr, "NOT_FOUND", "No such file.");
    }
    if (!fs) {
        return no_store(wr);
    }
    if (fs->ops != &webot_filestore_local_ops) {
        return webot_fail(wr, "NOT_FOUND", "Files of this server are in "
                          "its S3 bucket.");
    }
    if (!(db = webot_req_db(wr, &e))) {
        return webot_send_error(wr, e);
    }
    rc = webot_store_file_get(db, wr->p, wr->id, NULL, &f);
    if (rc != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    if ((e = check_signature(wr, fs, "GET", f))) {
        return webot_send_error(wr, e);
    }
    if (strcmp(f->status, "uploaded")) {
        return webot_fail(wr, "NOT_FOUND", "No such file.");
    }
    path = webot_filestore_local_path(fs, wr->p, f->id, 0);
    rv = apr_file_open(&fd, path, APR_FOPEN_READ | APR_FOPEN_BINARY
                       | APR_FOPEN_SENDFILE_ENABLED, 0, wr->p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, fd);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(30512)
                      "uploaded file %s is missing from the file store "
                      "(request_id %s)", f->id, wr->request_id);
        return webot_fail(wr, "INTERNAL_ERROR",
                          "An internal error occurred; it has been logged.");
    }
    wr->sent = 1;
    r->status = HTTP_OK;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "Content-Disposition",
                   disposition(wr->p, f->filename));
    if (f->sha256) {
        apr_table_setn(r->headers_out, "ETag",
                       apr_pstrcat(wr->p, "\"", f->sha256, "\"", NULL));
    }
    ap_set_content_type(r, f->content_type);
    ap_set_content_length(r, fi.size);
    if (!r->header_only) {
        apr_size_t sent = 0;
        ap_send_fd(fd, r, 0, (apr_size_t)fi.size, &sent);
    }
    return OK;
}
