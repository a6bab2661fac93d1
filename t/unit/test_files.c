/* test_files.c: the files core: upload URL signatures
 * (mod_webot/webot_upload_sig.c), file ids, the file store configuration
 * and both stores' URLs (mod_webot/webot_filestore.c), and the local store's
 * streamed writer (partial files never survive a failure). */
#include "webot_filestore.h"
#include "webot_upload_sig.h"
#include "webot_util.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_uri.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int ntest, nfail;

static void ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s %d - ", cond ? "ok" : "not ok", ++ntest);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        nfail++;
    }
}

static const unsigned char SECRET[] = "0123456789abcdef0123456789abcdef";
#define SLEN (sizeof(SECRET) - 1)
#define ID "file_abcdefghijklmnopqrstuvwxyz"

static void test_ids(void)
{
    ok(webot_file_id_valid(ID), "a well-formed id");
    ok(webot_file_id_valid("file_234567abcdefghijklmnopqrst"), "digits 2-7");
    ok(!webot_file_id_valid("file_abcdefghijklmnopqrstuvwxy"), "25 characters");
    ok(!webot_file_id_valid("file_abcdefghijklmnopqrstuvwxyza"), "27 characters");
    ok(!webot_file_id_valid("file_abcdefghijklmnopqrstuvwxy1"), "'1' is not base32");
    ok(!webot_file_id_valid("file_abcdefghijklmnopqrstuvwxY"), "upper case");
    ok(!webot_file_id_valid("file_../../../../etc/passwd/xx"), "traversal");
    ok(!webot_file_id_valid("job_abcdefghijklmnopqrstuvwxyz"), "other prefix");
    ok(!webot_file_id_valid(""), "empty");
    ok(!webot_file_id_valid(NULL), "NULL");
}

static void test_sig(apr_pool_t *p)
{
    const char *s = webot_upload_sig(p, SECRET, SLEN, "PUT", ID, 1767225600,
                                     "application/pdf", 1234);
    ok(s && strlen(s) == WEBOT_UPLOAD_SIG_LEN, "signature is 43 base64url");
    ok(webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225600,
                               "application/pdf", 1234, s), "verifies");
    ok(!webot_upload_sig_verify(p, SECRET, SLEN, "GET", ID, 1767225600,
                                "application/pdf", 1234, s), "other method");
    ok(!webot_upload_sig_verify(p, SECRET, SLEN, "PUT",
                                "file_abcdefghijklmnopqrstuvwxya", 1767225600,
                                "application/pdf", 1234, s), "other id");
    ok(!webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225601,
                                "application/pdf", 1234, s), "other expiry");
    ok(!webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225600,
                                "text/plain", 1234, s), "other type");
    ok(!webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225600,
                                "application/pdf", 1235, s), "other size");
    ok(!webot_upload_sig_verify(p, (const unsigned char *)"another secret "
                                "of thirty-two bytes", 34, "PUT", ID,
                                1767225600, "application/pdf", 1234, s),
       "other secret");
    {
        char *t = apr_pstrdup(p, s);
        t[0] = t[0] == 'A' ? 'B' : 'A';
        ok(!webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225600,
                                    "application/pdf", 1234, t), "tampered");
        ok(!webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225600,
                                    "application/pdf", 1234,
                                    apr_pstrcat(p, s, "A", NULL)),
           "one character more");
        ok(!webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225600,
                                    "application/pdf", 1234,
                                    apr_pstrndup(p, s, 42)), "one less");
        ok(!webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225600,
                                    "application/pdf", 1234,
                                    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"),
           "not base64url");
        ok(!webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225600,
                                    "application/pdf", 1234, NULL), "NULL");
    }
    ok(webot_upload_sig(p, SECRET, SLEN, "PUT", ID, 1, "a\nb", 1) == NULL,
       "a newline in the type cannot be signed (no field smuggling)");
    /* the documented message, recomputed here */
    {
        const char *msg = "webot-file-v1\nPUT\n" ID "\n1767225600\n"
                          "application/pdf\n1234";
        unsigned char mac[WEBOT_SHA256_LEN];
        webot_hmac_sha256(SECRET, SLEN, msg, strlen(msg), mac);
        ok(!strcmp(webot_b64url(p, mac, sizeof(mac)), s),
           "HMAC-SHA256 over the documented message");
    }
}

static void test_parse(apr_pool_t *p)
{
    webot_filestore_t *fs = NULL;
    ok(!webot_filestore_parse(p, "/var/lib/webot/files/", &fs)
       && fs->ops == &webot_filestore_local_ops
       && !strcmp(fs->dir, "/var/lib/webot/files"), "local directory");
    ok(!webot_filestore_parse(p, "s3://my-bucket", &fs)
       && fs->ops == &webot_filestore_s3_ops && !strcmp(fs->bucket, "my-bucket")
       && !strcmp(fs->prefix, ""), "s3 bucket");
    ok(!webot_filestore_parse(p, "s3://my.bucket/up/loads", &fs)
       && !strcmp(fs->prefix, "up/loads/"), "s3 bucket with prefix");
    ok(webot_filestore_parse(p, "relative/dir", &fs) != NULL, "relative dir");
    ok(webot_filestore_parse(p, "s3://", &fs) != NULL, "no bucket");
    ok(webot_filestore_parse(p, "s3://UPPER", &fs) != NULL, "bad bucket");
    ok(webot_filestore_parse(p, "s3://ok-bucket/a b", &fs) != NULL,
       "space in prefix");
    ok(webot_filestore_parse(p, "", &fs) != NULL, "empty");
    ok(!webot_filestore_check_endpoint(p, "http://127.0.0.1:9000"),
       "endpoint host:port");
    ok(webot_filestore_check_endpoint(p, "ftp://x") != NULL, "scheme");
    ok(webot_filestore_check_endpoint(p, "https://x/path") != NULL,
       "no path");
}

static const char *query_arg(apr_pool_t *p, const char *url, const char *k)
{
    const char *q = strchr(url, '?');
    char *dup, *tok, *st;
    if (!q) {
        return NULL;
    }
    dup = apr_pstrdup(p, q + 1);
    for (tok = apr_strtok(dup, "&", &st); tok; tok = apr_strtok(NULL, "&", &st)) {
        char *eq = strchr(tok, '=');
        if (eq && !strncmp(tok, k, (apr_size_t)(eq - tok))
            && strlen(k) == (apr_size_t)(eq - tok)) {
            return eq + 1;
        }
    }
    return NULL;
}

static void test_local_urls(apr_pool_t *p)
{
    webot_filestore_t *fs;
    webot_file_t f;
    apr_table_t *h = apr_table_make(p, 2);
    const char *url = NULL, *err;
    apr_time_t now = apr_time_from_sec(1767225000);

    webot_filestore_parse(p, "/tmp", &fs);
    fs->secret = SECRET;
    fs->secret_len = SLEN;
    memset(&f, 0, sizeof(f));
    f.id = ID;
    f.content_type = "text/plain";
    f.size_bytes = 5;
    f.expires_at = apr_time_from_sec(1767225900);
    err = fs->ops->upload_url(fs, p, &f, "https://api.example.com/api/v1",
                              now, &url, h);
    ok(!err && url && !strncmp(url, "https://api.example.com/api/v1/files/"
                               "upload/" ID "?expires=1767225900&sig=", 75),
       "local upload URL: %s", url ? url : err);
    ok(!strcmp(apr_table_get(h, "Content-Type"), "text/plain"),
       "Content-Type required");
    ok(webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225900,
                               "text/plain", 5, query_arg(p, url, "sig")),
       "its signature verifies");
    err = fs->ops->download_url(fs, p, &f, "http://h/api/v1", now, 60, &url);
    ok(!err && !strncmp(url, "http://h/api/v1/files/download/" ID
                        "?expires=1767225060&sig=", 70),
       "local download URL: %s", url);
    ok(webot_upload_sig_verify(p, SECRET, SLEN, "GET", ID, 1767225060,
                               "text/plain", 5, query_arg(p, url, "sig")),
       "its signature verifies (GET)");
    ok(!webot_upload_sig_verify(p, SECRET, SLEN, "PUT", ID, 1767225060,
                                "text/plain", 5, query_arg(p, url, "sig")),
       "and is no upload signature");
    ok(fs->ops->upload_url(fs, p, &f, NULL, now, &url, h) != NULL,
       "no API root: refused");
    ok(webot_filestore_local_path(fs, p, "../etc/passwd", 0) == NULL,
       "no path from a malformed id");
    ok(!strcmp(webot_filestore_local_path(fs, p, ID, 1), "/tmp/" ID ".part"),
       "partial path");
}

static void test_s3_urls(apr_pool_t *p)
{
    webot_filestore_t *fs;
    webot_file_t f;
    apr_table_t *h = apr_table_make(p, 2);
    const char *url = NULL, *err, *sig;
    apr_time_t now = apr_time_from_sec(1440938160);   /* 20150830T123600Z */
    webot_sigv4_header_t hd[3];
    webot_sigv4_request_t rq;
    webot_sigv4_result_t res;

    webot_filestore_parse(p, "s3://examplebucket/in", &fs);
    fs->creds.access_key = "AKIDEXAMPLE";
    fs->creds.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    fs->creds.region = "eu-west-1";
    memset(&f, 0, sizeof(f));
    f.id = ID;
    f.content_type = "application/pdf";
    f.size_bytes = 1234;
    f.expires_at = now + apr_time_from_sec(900);
    err = fs->ops->upload_url(fs, p, &f, NULL, now, &url, h);
    ok(!err && !strncmp(url, "https://examplebucket.s3.eu-west-1.amazonaws.com"
                        "/in/" ID "?", 84), "virtual-hosted URL: %s",
       url ? url : err);
    ok(!strcmp(query_arg(p, url, "X-Amz-Algorithm"), "AWS4-HMAC-SHA256"),
       "X-Amz-Algorithm");
    ok(!strcmp(query_arg(p, url, "X-Amz-Credential"),
               "AKIDEXAMPLE%2F20150830%2Feu-west-1%2Fs3%2Faws4_request"),
       "X-Amz-Credential");
    ok(!strcmp(query_arg(p, url, "X-Amz-Date"), "20150830T123600Z"),
       "X-Amz-Date");
    ok(!strcmp(query_arg(p, url, "X-Amz-Expires"), "900"),
       "X-Amz-Expires: what is left of the contract");
    ok(!strcmp(query_arg(p, url, "X-Amz-SignedHeaders"),
               "content-length%3Bcontent-type%3Bhost"),
       "type and length are signed");
    sig = query_arg(p, url, "X-Amz-Signature");
    ok(sig && strlen(sig) == 64, "X-Amz-Signature");
    ok(!strcmp(apr_table_get(h, "Content-Type"), "application/pdf")
       && !strcmp(apr_table_get(h, "Content-Length"), "1234"),
       "headers the PUT must carry");
    /* the same request signed directly gives the same signature */
    hd[0].name = "host";
    hd[0].value = "examplebucket.s3.eu-west-1.amazonaws.com";
    hd[1].name = "content-type";
    hd[1].value = "application/pdf";
    hd[2].name = "content-length";
    hd[2].value = "1234";
    memset(&rq, 0, sizeof(rq));
    rq.method = "PUT";
    rq.path = "/in/" ID;
    rq.headers = hd;
    rq.nheaders = 3;
    rq.payload_hash = "UNSIGNED-PAYLOAD";
    webot_sigv4_sign(p, &fs->creds, &rq, now, 900, &res);
    ok(!strcmp(res.signature, sig), "signature = SigV4 of PUT with "
       "UNSIGNED-PAYLOAD");
    ok(strstr(res.canonical_request, "\nUNSIGNED-PAYLOAD") != NULL,
       "unsigned payload");

    fs->endpoint = "http://127.0.0.1:9000";
    err = fs->ops->download_url(fs, p, &f, NULL, now, 300, &url);
    ok(!err && !strncmp(url, "http://127.0.0.1:9000/examplebucket/in/" ID "?",
                        71), "path-style URL at an endpoint: %s", url);
    ok(!strcmp(query_arg(p, url, "X-Amz-SignedHeaders"), "host"),
       "download signs host only");
    ok(!strcmp(query_arg(p, url, "X-Amz-Expires"), "300"), "download TTL");
    fs->endpoint = NULL;
    fs->bucket = "dotted.bucket";
    err = fs->ops->download_url(fs, p, &f, NULL, now, 300, &url);
    ok(!err && !strncmp(url, "https://s3.eu-west-1.amazonaws.com/dotted.bucket/"
                        "in/" ID, 83), "dotted bucket: path style");
    f.expires_at = now - apr_time_from_sec(5);
    fs->bucket = "examplebucket";
    fs->ops->upload_url(fs, p, &f, NULL, now, &url, h);
    ok(!strcmp(query_arg(p, url, "X-Amz-Expires"), "1"),
       "an expired contract gets no more than a second");
}

static int exists(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;
    return apr_stat(&fi, path, APR_FINFO_TYPE, p) == APR_SUCCESS;
}

static void test_writer(apr_pool_t *p)
{
    char tmpl[] = "/tmp/webot-files-XXXXXX";
    char *dir = mkdtemp(tmpl);
    webot_filestore_t *fs;
    webot_fs_writer_t *w;
    const char *sha = NULL, *full, *part;
    unsigned char sum[WEBOT_SHA256_LEN];
    apr_pool_t *sub;
    char *big;
    apr_size_t i, n = 1000000;

    if (!dir) {
        ok(0, "mkdtemp");
        return;
    }
    webot_filestore_parse(p, dir, &fs);
    full = webot_filestore_local_path(fs, p, ID, 0);
    part = webot_filestore_local_path(fs, p, ID, 1);
    big = apr_palloc(p, n);
    for (i = 0; i < n; i++) {
        big[i] = (char)(i * 31 + 7);
    }

    apr_pool_create(&sub, p);
    ok(webot_fs_writer_open(fs, sub, ID, &w) == APR_SUCCESS, "open");
    ok(exists(p, part) && !exists(p, full), "writes to .part");
    for (i = 0; i < n; i += 4096) {
        webot_fs_writer_write(w, big + i, n - i < 4096 ? n - i : 4096);
    }
    ok(webot_fs_writer_bytes(w) == (apr_off_t)n, "counts bytes");
    ok(webot_fs_writer_commit(w, &sha) == APR_SUCCESS, "commit");
    webot_sha256(big, n, sum);
    ok(sha && !strcmp(sha, webot_hex(p, sum, sizeof(sum))),
       "SHA-256 computed on the way");
    ok(exists(p, full) && !exists(p, part), "renamed into place");
    apr_pool_destroy(sub);
    ok(exists(p, full), "a committed file survives its pool");
    ok(fs->ops->remove(fs, p, ID) == APR_SUCCESS && !exists(p, full),
       "remove");

    apr_pool_create(&sub, p);
    webot_fs_writer_open(fs, sub, ID, &w);
    webot_fs_writer_write(w, "abc", 3);
    webot_fs_writer_abort(w);
    ok(!exists(p, part) && !exists(p, full), "abort leaves nothing");
    ok(webot_fs_writer_write(w, "abc", 3) != APR_SUCCESS,
       "no writes after abort");
    apr_pool_destroy(sub);

    apr_pool_create(&sub, p);
    webot_fs_writer_open(fs, sub, ID, &w);
    webot_fs_writer_write(w, "abc", 3);
    apr_pool_destroy(sub);
    ok(!exists(p, part) && !exists(p, full),
       "a writer whose pool goes away without commit leaves nothing");

    /* a hasher thread: batches of two alternating buffers, each reused
     * only after the next writev returned (the documented contract) */
    apr_pool_create(&sub, p);
    ok(webot_fs_writer_open(fs, sub, ID, &w) == APR_SUCCESS
       && webot_fs_writer_parallel(w) == APR_SUCCESS, "parallel hashing");
    {
        char *buf[2];
        struct iovec v[3];
        apr_size_t off = 0, chunk = 24000;
        int k = 0;
        buf[0] = apr_palloc(p, chunk);
        buf[1] = apr_palloc(p, chunk);
        while (off < n) {
            apr_size_t len = n - off < chunk ? n - off : chunk;
            char *b = buf[k++ % 2];
            memcpy(b, big + off, len);
            v[0].iov_base = b;
            v[0].iov_len = len / 3;
            v[1].iov_base = b + len / 3;
            v[1].iov_len = len / 3;
            v[2].iov_base = b + 2 * (len / 3);
            v[2].iov_len = len - 2 * (len / 3);
            if (webot_fs_writer_writev(w, v, 3) != APR_SUCCESS) {
                break;
            }
            off += len;
        }
    }
    ok(webot_fs_writer_commit(w, &sha) == APR_SUCCESS
       && !strcmp(sha, webot_hex(p, sum, sizeof(sum))),
       "same SHA-256 with the hasher thread");
    apr_pool_destroy(sub);
    fs->ops->remove(fs, p, ID);

    apr_pool_create(&sub, p);
    webot_fs_writer_open(fs, sub, ID, &w);
    webot_fs_writer_parallel(w);
    {
        struct iovec v = { big, 100000 };
        webot_fs_writer_writev(w, &v, 1);
    }
    apr_pool_destroy(sub);
    ok(!exists(p, part) && !exists(p, full),
       "with a hasher thread too, a pool gone without commit leaves nothing");

    ok(webot_fs_writer_open(fs, p, "../../etc/x", &w) != APR_SUCCESS,
       "no writer for a malformed id");
    ok(fs->ops->remove(fs, p, ID) == APR_SUCCESS, "remove of nothing is fine");
    rmdir(dir);
}

int main(void)
{
    apr_pool_t *p;
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_ids();
    test_sig(p);
    test_parse(p);
    test_local_urls(p);
    test_s3_urls(p);
    test_writer(p);
    printf("1..%d\n", ntest);
    apr_pool_destroy(p);
    apr_terminate();
    return nfail ? 1 : 0;
}
