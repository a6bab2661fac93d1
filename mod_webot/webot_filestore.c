/* webot_filestore.c: the file store interface and its two implementations,
 * local (a directory) and s3 (a bucket through SigV4 presigned URLs). See
 * include/webot_filestore.h. */
#include "webot_filestore.h"
#include "webot_upload_sig.h"
#include "webot_util.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <string.h>

#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include <curl/curl.h>
#include <openssl/evp.h>

static long long sec_of(apr_time_t t)
{
    return (long long)apr_time_sec(t);
}

/* --- local --------------------------------------------------------------- */

const char *webot_filestore_local_path(const webot_filestore_t *fs,
                                       apr_pool_t *p, const char *id,
                                       int partial)
{
    if (!fs->dir || !webot_file_id_valid(id)) {
        return NULL;
    }
    return apr_pstrcat(p, fs->dir, "/", id, partial ? ".part" : "", NULL);
}

static const char *local_signed_url(const webot_filestore_t *fs,
                                    apr_pool_t *p, const webot_file_t *f,
                                    const char *api_root, const char *method,
                                    const char *what, long long expires,
                                    const char **url)
{
    const char *sig;
    if (!api_root) {
        return "no API root URL for the local store";
    }
    sig = webot_upload_sig(p, fs->secret, fs->secret_len, method, f->id,
                           expires, f->content_type, f->size_bytes);
    if (!sig) {
        return "cannot sign the URL";
    }
    *url = apr_psprintf(p, "%s/files/%s/%s?expires=%" APR_INT64_T_FMT
                        "&sig=%s", api_root, what, f->id,
                        (apr_int64_t)expires, sig);
    return NULL;
}

static const char *local_upload_url(const webot_filestore_t *fs,
                                    apr_pool_t *p, const webot_file_t *f,
                                    const char *api_root, apr_time_t now,
                                    const char **url, apr_table_t *headers)
{
    (void)now;
    apr_table_set(headers, "Content-Type", f->content_type);
    return local_signed_url(fs, p, f, api_root, "PUT", "upload",
                            sec_of(f->expires_at), url);
}

static const char *local_download_url(const webot_filestore_t *fs,
                                      apr_pool_t *p, const webot_file_t *f,
                                      const char *api_root, apr_time_t now,
                                      int ttl, const char **url)
{
    return local_signed_url(fs, p, f, api_root, "GET", "download",
                            sec_of(now) + ttl, url);
}

static apr_status_t local_remove(const webot_filestore_t *fs, apr_pool_t *p,
                                 const char *id)
{
    const char *part = webot_filestore_local_path(fs, p, id, 1);
    const char *full = webot_filestore_local_path(fs, p, id, 0);
    apr_status_t rv, rv2;
    if (!part) {
        return APR_EINVAL;
    }
    rv = apr_file_remove(part, p);
    rv2 = apr_file_remove(full, p);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_ENOENT(rv)) {
        return rv;
    }
    if (rv2 != APR_SUCCESS && !APR_STATUS_IS_ENOENT(rv2)) {
        return rv2;
    }
    return APR_SUCCESS;
}

static const char *local_stat(const webot_filestore_t *fs, apr_pool_t *p,
                              const webot_file_t *f, apr_off_t *size,
                              const char **ctype)
{
    const char *path = webot_filestore_local_path(fs, p, f->id, 0);
    apr_finfo_t fi;
    apr_status_t rv;
    *size = -1;
    *ctype = NULL;
    if (!path) {
        return "malformed file id";
    }
    rv = apr_stat(&fi, path, APR_FINFO_SIZE | APR_FINFO_TYPE, p);
    if (rv == APR_SUCCESS && fi.filetype == APR_REG) {
        *size = fi.size;
        *ctype = f->content_type;
    }
    else if (rv != APR_SUCCESS && !APR_STATUS_IS_ENOENT(rv)) {
        return apr_psprintf(p, "stat %s: %pm", path, &rv);
    }
    return NULL;
}

const webot_filestore_ops_t webot_filestore_local_ops = {
    "local", local_upload_url, local_download_url, local_remove, local_stat
};

/* --- the writer of the local store ----------------------------------------- */

/* With a hasher thread (webot_fs_writer_parallel), the SHA-256 of one batch
 * runs while the caller writes the next and reads from the network: the
 * request thread only hands the batch's iovecs over. */
typedef struct {
    apr_thread_t *thread;
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *cv;
    struct iovec *job;          /* the batch being hashed, or NULL */
    int njob;
    struct iovec *vec;          /* the writer's copy of the batch */
    int cap;
    int quit;
} hasher_t;

struct webot_fs_writer_t {
    apr_pool_t *p;
    apr_file_t *f;
    const char *part;
    const char *final;
    EVP_MD_CTX *md;
    apr_off_t n;
    int state;                  /* 0 open, 1 committed, 2 aborted */
    hasher_t *h;                /* NULL: hash inline */
};

static void *APR_THREAD_FUNC hasher_main(apr_thread_t *t, void *data)
{
    webot_fs_writer_t *w = data;
    hasher_t *h = w->h;
    for (;;) {
        struct iovec *job;
        int n, i;
        apr_thread_mutex_lock(h->mu);
        while (!h->job && !h->quit) {
            apr_thread_cond_wait(h->cv, h->mu);
        }
        job = h->job;
        n = h->njob;
        apr_thread_mutex_unlock(h->mu);
        if (!job) {
            break;                      /* quit, nothing left */
        }
        for (i = 0; i < n; i++) {
            EVP_DigestUpdate(w->md, job[i].iov_base, job[i].iov_len);
        }
        apr_thread_mutex_lock(h->mu);
        h->job = NULL;
        apr_thread_cond_broadcast(h->cv);
        apr_thread_mutex_unlock(h->mu);
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

void webot_fs_writer_sync(webot_fs_writer_t *w)
{
    hasher_t *h = w->h;
    if (!h) {
        return;
    }
    apr_thread_mutex_lock(h->mu);
    while (h->job) {
        apr_thread_cond_wait(h->cv, h->mu);
    }
    apr_thread_mutex_unlock(h->mu);
}

/* Waits for the last batch and ends the thread (idempotent). */
static void hasher_stop(webot_fs_writer_t *w)
{
    hasher_t *h = w->h;
    apr_status_t rv;
    if (!h) {
        return;
    }
    apr_thread_mutex_lock(h->mu);
    h->quit = 1;
    apr_thread_cond_broadcast(h->cv);
    apr_thread_mutex_unlock(h->mu);
    apr_thread_join(&rv, h->thread);
    w->h = NULL;
}

/* A pre-cleanup: it runs before the pool's subpools (the thread's) go. */
static apr_status_t writer_precleanup(void *data)
{
    hasher_stop(data);
    return APR_SUCCESS;
}

static apr_status_t writer_cleanup(void *data)
{
    webot_fs_writer_t *w = data;
    hasher_stop(w);
    if (w->state == 0) {
        if (w->f) {
            apr_file_close(w->f);
            w->f = NULL;
        }
        apr_file_remove(w->part, w->p);
        w->state = 2;
    }
    if (w->md) {
        EVP_MD_CTX_free(w->md);
        w->md = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t webot_fs_writer_open(const webot_filestore_t *fs, apr_pool_t *p,
                                  const char *id, webot_fs_writer_t **out)
{
    webot_fs_writer_t *w = apr_pcalloc(p, sizeof(*w));
    apr_status_t rv;

    w->p = p;
    w->part = webot_filestore_local_path(fs, p, id, 1);
    w->final = webot_filestore_local_path(fs, p, id, 0);
    if (!w->part) {
        return APR_EINVAL;
    }
    if (!(w->md = EVP_MD_CTX_new())
        || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        if (w->md) {
            EVP_MD_CTX_free(w->md);
        }
        return APR_ENOMEM;
    }
    rv = apr_file_open(&w->f, w->part,
                       APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE
                       | APR_FOPEN_BINARY,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD,
                       p);
    if (rv != APR_SUCCESS) {
        EVP_MD_CTX_free(w->md);
        return rv;
    }
    apr_pool_cleanup_register(p, w, writer_cleanup, apr_pool_cleanup_null);
    *out = w;
    return APR_SUCCESS;
}

apr_status_t webot_fs_writer_parallel(webot_fs_writer_t *w)
{
#if APR_HAS_THREADS
    hasher_t *h;
    apr_status_t rv;
    if (w->h || w->state != 0) {
        return APR_SUCCESS;
    }
    h = apr_pcalloc(w->p, sizeof(*h));
    if ((rv = apr_thread_mutex_create(&h->mu, APR_THREAD_MUTEX_DEFAULT,
                                      w->p)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&h->cv, w->p)) != APR_SUCCESS) {
        return rv;
    }
    w->h = h;
    if ((rv = apr_thread_create(&h->thread, NULL, hasher_main, w, w->p))
        != APR_SUCCESS) {
        w->h = NULL;
        return rv;
    }
    apr_pool_pre_cleanup_register(w->p, w, writer_precleanup);
    return APR_SUCCESS;
#else
    (void)w;
    return APR_ENOTIMPL;
#endif
}

apr_status_t webot_fs_writer_write(webot_fs_writer_t *w, const void *buf,
                                   apr_size_t len)
{
    apr_status_t rv;
    if (w->state != 0) {
        return APR_EINVAL;
    }
    if (!len) {
        return APR_SUCCESS;
    }
    webot_fs_writer_sync(w);
    EVP_DigestUpdate(w->md, buf, len);
    rv = apr_file_write_full(w->f, buf, len, NULL);
    if (rv == APR_SUCCESS) {
        w->n += (apr_off_t)len;
    }
    return rv;
}

apr_status_t webot_fs_writer_writev(webot_fs_writer_t *w,
                                    const struct iovec *vec, int n)
{
    apr_size_t total = 0, written = 0;
    apr_status_t rv;
    hasher_t *h = w->h;
    int i;
    if (w->state != 0) {
        return APR_EINVAL;
    }
    for (i = 0; i < n; i++) {
        total += vec[i].iov_len;
    }
    if (!total) {
        return APR_SUCCESS;
    }
    /* the previous batch is hashed by now (and its memory free to go) */
    webot_fs_writer_sync(w);
    rv = apr_file_writev_full(w->f, vec, (apr_size_t)n, &written);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    w->n += (apr_off_t)total;
    if (!h) {
        for (i = 0; i < n; i++) {
            EVP_DigestUpdate(w->md, vec[i].iov_base, vec[i].iov_len);
        }
        return APR_SUCCESS;
    }
    if (n > h->cap) {
        h->cap = n < 64 ? 64 : n;
        h->vec = apr_palloc(w->p, sizeof(struct iovec) * (apr_size_t)h->cap);
    }
    memcpy(h->vec, vec, sizeof(struct iovec) * (apr_size_t)n);
    apr_thread_mutex_lock(h->mu);
    h->job = h->vec;
    h->njob = n;
    apr_thread_cond_broadcast(h->cv);
    apr_thread_mutex_unlock(h->mu);
    return APR_SUCCESS;
}

apr_off_t webot_fs_writer_bytes(const webot_fs_writer_t *w)
{
    return w->n;
}

apr_status_t webot_fs_writer_commit(webot_fs_writer_t *w,
                                    const char **sha256_hex)
{
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    apr_status_t rv;

    if (w->state != 0) {
        return APR_EINVAL;
    }
    hasher_stop(w);
    rv = apr_file_close(w->f);
    w->f = NULL;
    if (rv != APR_SUCCESS) {
        webot_fs_writer_abort(w);
        return rv;
    }
    EVP_DigestFinal_ex(w->md, sum, &len);
    rv = apr_file_rename(w->part, w->final, w->p);
    if (rv != APR_SUCCESS) {
        webot_fs_writer_abort(w);
        return rv;
    }
    w->state = 1;
    *sha256_hex = webot_hex(w->p, sum, len);
    return APR_SUCCESS;
}

void webot_fs_writer_abort(webot_fs_writer_t *w)
{
    if (w && w->state == 0) {
        writer_cleanup(w);
    }
}

/* --- s3 --------------------------------------------------------------------- */

/* Base URL, Host header value and (decoded) path of a file's object. */
static void s3_location(const webot_filestore_t *fs, apr_pool_t *p,
                        const char *id, const char **base,
                        const char **host, const char **path)
{
    const char *key = apr_pstrcat(p, fs->prefix ? fs->prefix : "", id, NULL);
    if (fs->endpoint) {
        const char *h = strstr(fs->endpoint, "://");
        *base = fs->endpoint;
        *host = h ? h + 3 : fs->endpoint;
        *path = apr_pstrcat(p, "/", fs->bucket, "/", key, NULL);
    }
    else if (strchr(fs->bucket, '.')) {
        /* dotted bucket names do not match the wildcard certificate */
        *host = apr_pstrcat(p, "s3.", fs->creds.region, ".amazonaws.com",
                            NULL);
        *base = apr_pstrcat(p, "https://", *host, NULL);
        *path = apr_pstrcat(p, "/", fs->bucket, "/", key, NULL);
    }
    else {
        *host = apr_pstrcat(p, fs->bucket, ".s3.", fs->creds.region,
                            ".amazonaws.com", NULL);
        *base = apr_pstrcat(p, "https://", *host, NULL);
        *path = apr_pstrcat(p, "/", key, NULL);
    }
}

static const char *s3_presign(const webot_filestore_t *fs, apr_pool_t *p,
                              const webot_file_t *f, const char *method,
                              apr_time_t now, int expires, int with_body,
                              const char **url)
{
    const char *base, *host, *path, *err;
    webot_sigv4_header_t h[3];
    webot_sigv4_request_t rq;
    webot_sigv4_result_t res;
    int n = 0;

    if (!webot_file_id_valid(f->id)) {
        return "malformed file id";
    }
    s3_location(fs, p, f->id, &base, &host, &path);
    h[n].name = "Host";
    h[n++].value = host;
    if (with_body) {
        /* S3 checks signed headers: the PUT must carry the declared type
         * and exactly the declared length */
        h[n].name = "Content-Type";
        h[n++].value = f->content_type;
        h[n].name = "Content-Length";
        h[n++].value = apr_psprintf(p, "%" APR_INT64_T_FMT,
                                    (apr_int64_t)f->size_bytes);
    }
    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.path = path;
    rq.headers = h;
    rq.nheaders = n;
    rq.payload_hash = "UNSIGNED-PAYLOAD";
    if (expires < 1) {
        expires = 1;
    }
    if (expires > 604800) {
        expires = 604800;
    }
    if ((err = webot_sigv4_sign(p, &fs->creds, &rq, now, expires, &res))) {
        return err;
    }
    *url = apr_pstrcat(p, base, webot_sigv4_uri_encode(p, path, strlen(path),
                                                       1),
                       "?", res.query, NULL);
    return NULL;
}

static const char *s3_upload_url(const webot_filestore_t *fs, apr_pool_t *p,
                                 const webot_file_t *f, const char *api_root,
                                 apr_time_t now, const char **url,
                                 apr_table_t *headers)
{
    apr_time_t left = f->expires_at - now;
    (void)api_root;
    apr_table_set(headers, "Content-Type", f->content_type);
    apr_table_set(headers, "Content-Length",
                  apr_psprintf(p, "%" APR_INT64_T_FMT,
                               (apr_int64_t)f->size_bytes));
    return s3_presign(fs, p, f, "PUT", now,
                      (int)((left + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC),
                      1, url);
}

static const char *s3_download_url(const webot_filestore_t *fs,
                                   apr_pool_t *p, const webot_file_t *f,
                                   const char *api_root, apr_time_t now,
                                   int ttl, const char **url)
{
    (void)api_root;
    return s3_presign(fs, p, f, "GET", now, ttl, 0, url);
}

static apr_status_t s3_remove(const webot_filestore_t *fs, apr_pool_t *p,
                              const char *id)
{
    /* An S3 PUT is atomic: an expired contract leaves no partial object,
     * and a complete one is confirmed (not deleted) by housekeeping. */
    (void)fs;
    (void)p;
    (void)id;
    return APR_SUCCESS;
}

typedef struct {
    apr_pool_t *p;
    const char *ctype;
} head_ctx_t;

static size_t discard_body(char *ptr, size_t size, size_t n, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * n;
}

static const char *s3_stat(const webot_filestore_t *fs, apr_pool_t *p,
                           const webot_file_t *f, apr_off_t *size,
                           const char **ctype)
{
    const char *base, *host, *path, *err;
    webot_sigv4_header_t h[1];
    webot_sigv4_request_t rq;
    webot_sigv4_result_t res;
    struct curl_slist *hl = NULL;
    const webot_sigv4_header_t *a;
    CURL *c;
    CURLcode cc;
    long code = 0;
    curl_off_t len = -1;
    char *ct = NULL;
    const char *url;

    *size = -1;
    *ctype = NULL;
    if (!webot_file_id_valid(f->id)) {
        return "malformed file id";
    }
    s3_location(fs, p, f->id, &base, &host, &path);
    h[0].name = "Host";
    h[0].value = host;
    memset(&rq, 0, sizeof(rq));
    rq.method = "HEAD";
    rq.path = path;
    rq.headers = h;
    rq.nheaders = 1;
    rq.flags = WEBOT_SIGV4_CONTENT_SHA256;
    if ((err = webot_sigv4_sign(p, &fs->creds, &rq, apr_time_now(), 0,
                                &res))) {
        return err;
    }
    url = apr_pstrcat(p, base, webot_sigv4_uri_encode(p, path, strlen(path),
                                                      1), NULL);
    if (!(c = curl_easy_init())) {
        return "curl_easy_init failed";
    }
    for (a = res.added_headers; a->name; a++) {
        hl = curl_slist_append(hl, apr_pstrcat(p, a->name, ": ", a->value,
                                               NULL));
    }
    hl = curl_slist_append(hl, apr_pstrcat(p, "Authorization: ",
                                           res.authorization, NULL));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     fs->timeout_ms > 0 ? fs->timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     fs->timeout_ms > 0 ? fs->timeout_ms * 2 : 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct) {
            *ctype = apr_pstrdup(p, ct);
        }
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    if (cc != CURLE_OK) {
        return apr_psprintf(p, "HEAD %s: %s", host, curl_easy_strerror(cc));
    }
    if (code == 200) {
        *size = len >= 0 ? (apr_off_t)len : 0;
        return NULL;
    }
    if (code == 404) {
        *ctype = NULL;
        return NULL;
    }
    *ctype = NULL;
    return apr_psprintf(p, "HEAD %s answered %ld", host, code);
}

const webot_filestore_ops_t webot_filestore_s3_ops = {
    "s3", s3_upload_url, s3_download_url, s3_remove, s3_stat
};

/* --- configuration ------------------------------------------------------------ */

static int bucket_char(int c)
{
    return apr_islower(c) || apr_isdigit(c) || c == '-' || c == '.';
}

const char *webot_filestore_parse(apr_pool_t *p, const char *spec,
                                  webot_filestore_t **out)
{
    webot_filestore_t *fs = apr_pcalloc(p, sizeof(*fs));
    if (!spec || !*spec) {
        return "an absolute directory or s3://bucket[/prefix] is required";
    }
    if (!strncmp(spec, "s3://", 5)) {
        const char *b = spec + 5, *slash = strchr(b, '/'), *c;
        apr_size_t blen = slash ? (apr_size_t)(slash - b) : strlen(b);
        if (blen < 3 || blen > 63) {
            return apr_psprintf(p, "\"%s\": the bucket name must have 3 to 63 "
                                "characters", spec);
        }
        for (c = b; c < b + blen; c++) {
            if (!bucket_char((unsigned char)*c)) {
                return apr_psprintf(p, "\"%s\": a bucket name has only a-z, "
                                    "0-9, '-' and '.'", spec);
            }
        }
        fs->ops = &webot_filestore_s3_ops;
        fs->bucket = apr_pstrmemdup(p, b, blen);
        fs->prefix = "";
        if (slash && slash[1]) {
            const char *pre = slash + 1;
            for (c = pre; *c; c++) {
                if ((unsigned char)*c < 0x21 || *c == 0x7f || *c == '\\'
                    || *c == '?' || *c == '#') {
                    return apr_psprintf(p, "\"%s\": the key prefix may not "
                                        "contain spaces, controls, '\\', "
                                        "'?' or '#'", spec);
                }
            }
            fs->prefix = pre[strlen(pre) - 1] == '/'
                         ? apr_pstrdup(p, pre)
                         : apr_pstrcat(p, pre, "/", NULL);
        }
        fs->creds.service = "s3";
        fs->timeout_ms = 5000;
    }
    else if (spec[0] == '/') {
        apr_size_t n = strlen(spec);
        while (n > 1 && spec[n - 1] == '/') {
            n--;
        }
        fs->ops = &webot_filestore_local_ops;
        fs->dir = apr_pstrmemdup(p, spec, n);
    }
    else {
        return apr_psprintf(p, "\"%s\" is neither an absolute directory nor "
                            "s3://bucket[/prefix]", spec);
    }
    *out = fs;
    return NULL;
}

const char *webot_filestore_check_endpoint(apr_pool_t *p, const char *url)
{
    const char *h, *c;
    if (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)) {
        return apr_psprintf(p, "\"%s\" must start with https:// or http://",
                            url);
    }
    h = strstr(url, "://") + 3;
    if (!*h) {
        return apr_psprintf(p, "\"%s\" has no host", url);
    }
    for (c = h; *c; c++) {
        if (!(apr_isalnum(*c) || *c == '.' || *c == '-' || *c == ':'
              || *c == '[' || *c == ']')) {
            return apr_psprintf(p, "\"%s\": only scheme://host[:port], no "
                                "path", url);
        }
    }
    return NULL;
}
