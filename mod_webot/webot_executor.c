/* webot_executor.c: signed executor calls over libcurl (webot_executor.h). */
#include "webot_executor.h"
#include "webot_json.h"
#include "webot_schema.h"
#include "webot_util.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

/* Bounds of a deliverable (characters, items). */
#define SUMMARY_MAX   2000
#define FILES_MAX     20
#define NAME_MAX_LEN  300
#define URL_MAX_LEN   4096

/* --- signatures ------------------------------------------------------------ */

const char *webot_exec_signature(apr_pool_t *p, const unsigned char *secret,
                                 apr_size_t secret_len, long long t,
                                 const char *body, apr_size_t len)
{
    unsigned char mac[WEBOT_SHA256_LEN];
    char ts[32];
    apr_size_t tl = (apr_size_t)apr_snprintf(ts, sizeof(ts), "%" APR_INT64_T_FMT ".", (apr_int64_t)t);
    char *msg = apr_palloc(p, tl + len + 1);

    memcpy(msg, ts, tl);
    memcpy(msg + tl, body, len);
    msg[tl + len] = '\0';
    if (webot_hmac_sha256(secret, secret_len, msg, tl + len, mac)) {
        return NULL;
    }
    return apr_psprintf(p, "t=%" APR_INT64_T_FMT ",v1=%s", (apr_int64_t)t,
                        webot_hex(p, mac, sizeof(mac)));
}

int webot_exec_signature_verify(const char *header,
                                const unsigned char *secret,
                                apr_size_t secret_len, const char *body,
                                apr_size_t len, long long now,
                                long long tolerance)
{
    apr_pool_t *p;
    char *copy, *item, *state;
    long long t = -1;
    int ok = 0, have_t = 0;
    apr_array_header_t *sigs;
    int i;

    if (!header || apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return 0;
    }
    sigs = apr_array_make(p, 2, sizeof(const char *));
    copy = apr_pstrdup(p, header);
    for (item = apr_strtok(copy, ",", &state); item;
         item = apr_strtok(NULL, ",", &state)) {
        while (apr_isspace(*item)) {
            item++;
        }
        if (!strncmp(item, "t=", 2)) {
            if (have_t || webot_parse_int(item + 2, 0, 99999999999LL, &t)) {
                goto out;           /* two or a malformed timestamp */
            }
            have_t = 1;
        }
        else if (!strncmp(item, "v1=", 3)) {
            APR_ARRAY_PUSH(sigs, const char *) = item + 3;
        }
    }
    if (!have_t || !sigs->nelts || t < now - tolerance || t > now + tolerance) {
        goto out;
    }
    {
        const char *want = webot_exec_signature(p, secret, secret_len, t,
                                                body, len);
        const char *v1 = want ? strstr(want, "v1=") + 3 : NULL;
        for (i = 0; v1 && i < sigs->nelts; i++) {
            const char *got = APR_ARRAY_IDX(sigs, i, const char *);
            if (webot_ct_equal(v1, strlen(v1), got, strlen(got))) {
                ok = 1;
            }
        }
    }
out:
    apr_pool_destroy(p);
    return ok;
}

/* --- the brief ------------------------------------------------------------- */

static json_t *json_text(const char *s)
{
    return s ? json_string(s) : json_null();
}

char *webot_exec_brief(apr_pool_t *p, const webot_wjob_t *job,
                       const json_t *files, long long sent_at)
{
    json_t *b = webot_json_own(p, json_object());
    json_t *intake = job->intake ? json_loads(job->intake, 0, NULL) : NULL;
    json_t *meta = job->metadata ? json_loads(job->metadata, 0, NULL) : NULL;
    json_t *fl = json_is_array(files) ? json_deep_copy(files) : json_array();

    json_object_set_new(b, "id", json_string(job->id));
    json_object_set_new(b, "attempt", json_integer(job->attempts));
    json_object_set_new(b, "service_family", json_text(job->family));
    json_object_set_new(b, "service_option", json_text(job->option));
    json_object_set_new(b, "title", json_text(job->title));
    json_object_set_new(b, "intake",
                        json_is_object(intake) ? intake : json_object());
    if (!json_is_object(intake)) {
        json_decref(intake);
    }
    json_object_set_new(b, "metadata",
                        json_is_object(meta) ? meta : json_object());
    if (!json_is_object(meta)) {
        json_decref(meta);
    }
    json_object_set_new(b, "revision", json_pack("{s:i,s:o}",
        "number", job->revision_count,
        "notes", job->revision_count ? json_text(job->revision_notes)
                                     : json_null()));
    json_object_set_new(b, "files", fl);
    json_object_set_new(b, "created_at", json_text(job->created_at));
    json_object_set_new(b, "sent_at", json_string(
        webot_time_rfc3339(p, apr_time_from_sec(sent_at), 0)));
    return webot_json_dump(p, b);
}

/* --- answers ----------------------------------------------------------------- */

/* Printable ASCII of the first bytes of a body, for last_error. */
static const char *snippet(apr_pool_t *p, const char *body, apr_size_t len)
{
    apr_size_t n = len > 200 ? 200 : len, i;
    char *s = apr_palloc(p, n + 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)body[i];
        s[i] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
    }
    s[n] = '\0';
    return s;
}

static int http_url(const char *s)
{
    return s && (!strncmp(s, "https://", 8) || !strncmp(s, "http://", 7))
           && strlen(s) <= URL_MAX_LEN;
}

/* The deliverable normalised ({"summary","text","files"}), or NULL and
 * *why. */
static json_t *normalise(apr_pool_t *p, json_t *d, const char **why)
{
    json_t *sum = json_object_get(d, "summary");
    json_t *text = json_object_get(d, "text");
    json_t *files = json_object_get(d, "files");
    json_t *out, *fl, *f;
    size_t i;

    if (!json_is_object(d)) {
        *why = "\"deliverable\" is not an object";
        return NULL;
    }
    if (!json_is_string(sum) || !json_string_length(sum)
        || webot_utf8_len(json_string_value(sum)) > SUMMARY_MAX) {
        *why = apr_psprintf(p, "deliverable.summary must be a non-empty "
                            "string of at most %d characters", SUMMARY_MAX);
        return NULL;
    }
    if (text && !json_is_string(text) && !json_is_null(text)) {
        *why = "deliverable.text must be a string";
        return NULL;
    }
    if (files && !json_is_array(files) && !json_is_null(files)) {
        *why = "deliverable.files must be an array";
        return NULL;
    }
    if (json_array_size(files) > FILES_MAX) {
        *why = apr_psprintf(p, "deliverable.files has more than %d items",
                            FILES_MAX);
        return NULL;
    }
    fl = json_array();
    json_array_foreach(files, i, f) {
        json_t *name = json_object_get(f, "name");
        json_t *url = json_object_get(f, "url");
        json_t *ct = json_object_get(f, "content_type");
        json_t *size = json_object_get(f, "size_bytes");
        json_t *o;
        if (!json_is_object(f) || !json_is_string(name)
            || !json_string_length(name)
            || webot_utf8_len(json_string_value(name)) > NAME_MAX_LEN
            || !json_is_string(url) || !http_url(json_string_value(url))
            || (ct && !json_is_string(ct))
            || (size && (!json_is_integer(size)
                         || json_integer_value(size) < 0))) {
            json_decref(fl);
            *why = apr_psprintf(p, "deliverable.files[%lu] must be "
                                "{\"name\",\"url\" (http or https)"
                                "[,\"content_type\",\"size_bytes\"]}",
                                (unsigned long)i);
            return NULL;
        }
        o = json_pack("{s:O,s:O}", "name", name, "url", url);
        if (ct) {
            json_object_set(o, "content_type", ct);
        }
        if (size) {
            json_object_set(o, "size_bytes", size);
        }
        json_array_append_new(fl, o);
    }
    out = json_pack("{s:O,s:s,s:o}", "summary", sum,
                    "text", json_is_string(text) ? json_string_value(text)
                                                 : "",
                    "files", fl);
    return webot_json_own(p, out);
}

webot_exec_outcome_e webot_exec_classify(apr_pool_t *p, long status,
                                         const char *body, apr_size_t len,
                                         const char **deliverable,
                                         int *review_required,
                                         const char **why)
{
    const char *perr = NULL;
    json_t *j, *d, *rr;

    *deliverable = NULL;
    *review_required = 0;
    *why = NULL;
    if (status >= 500 || status == 408 || status == 429) {
        *why = apr_psprintf(p, "executor answered HTTP %ld: %s", status,
                            snippet(p, body, len));
        return WEBOT_EXEC_RETRY;
    }
    if (status < 200 || status >= 300) {
        *why = apr_psprintf(p, "executor answered HTTP %ld: %s", status,
                            snippet(p, body, len));
        return WEBOT_EXEC_PERMANENT;
    }
    if (!(j = webot_json_parse(p, body, len, &perr)) || !json_is_object(j)) {
        *why = apr_psprintf(p, "executor answered HTTP %ld with a body that "
                            "is not a JSON object (%s)", status,
                            perr ? perr : "wrong type");
        return WEBOT_EXEC_PERMANENT;
    }
    d = json_object_get(j, "deliverable");
    rr = json_object_get(j, "review_required");
    if (rr && !json_is_boolean(rr) && !json_is_null(rr)) {
        *why = "executor answer: review_required must be a boolean";
        return WEBOT_EXEC_PERMANENT;
    }
    if (!(d = normalise(p, d, why))) {
        *why = apr_pstrcat(p, "executor answer: ", *why, NULL);
        return WEBOT_EXEC_PERMANENT;
    }
    *deliverable = webot_json_dump(p, d);
    *review_required = json_is_true(rr);
    return WEBOT_EXEC_OK;
}

/* --- calls --------------------------------------------------------------------- */

struct webot_exec_call_t {
    CURL *easy;
    struct curl_slist *headers;
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap, max;
    int too_big;
    void *user;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    webot_exec_call_t *c = ud;
    size_t n = size * nmemb;

    if (c->len + n > c->max) {
        c->too_big = 1;
        return 0;                   /* CURLE_WRITE_ERROR ends the transfer */
    }
    if (c->len + n + 1 > c->cap) {
        apr_size_t cap = c->cap ? c->cap : 4096;
        char *nb;
        while (cap < c->len + n + 1) {
            cap *= 2;
        }
        nb = apr_palloc(c->p, cap);
        if (c->len) {
            memcpy(nb, c->buf, c->len);
        }
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = '\0';
    return n;
}

void webot_exec_call_destroy(webot_exec_call_t *c)
{
    if (c->easy) {
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
    }
    if (c->headers) {
        curl_slist_free_all(c->headers);
        c->headers = NULL;
    }
}

static apr_status_t call_cleanup(void *data)
{
    webot_exec_call_destroy(data);
    return APR_SUCCESS;
}

webot_exec_call_t *webot_exec_call_create(apr_pool_t *p,
                                          const webot_exec_opts_t *o,
                                          const char *job_id, int attempt,
                                          const char *body, apr_size_t len,
                                          long long now, const char **err)
{
    webot_exec_call_t *c = apr_pcalloc(p, sizeof(*c));
    const char *sig;
    struct curl_slist *h = NULL, *h2;
    CURLcode cc = CURLE_OK;

    c->p = p;
    c->max = o->max_response;
    if (!(sig = webot_exec_signature(p, o->secret, o->secret_len, now, body,
                                     len))) {
        *err = "cannot compute the signature";
        return NULL;
    }
    if (!(c->easy = curl_easy_init())) {
        *err = "curl_easy_init failed";
        return NULL;
    }
    apr_pool_cleanup_register(p, c, call_cleanup, apr_pool_cleanup_null);
    h2 = curl_slist_append(h, "Content-Type: application/json");
    h = h2 ? h2 : h;
    h2 = curl_slist_append(h, apr_pstrcat(p, WEBOT_EXEC_SIG_HEADER ": ", sig,
                                          NULL));
    h = h2 ? h2 : h;
    h2 = curl_slist_append(h, apr_pstrcat(p, "X-Webot-Job-Id: ", job_id,
                                          NULL));
    h = h2 ? h2 : h;
    h2 = curl_slist_append(h, apr_psprintf(p, "X-Webot-Attempt: %d",
                                           attempt));
    h = h2 ? h2 : h;
    h2 = curl_slist_append(h, "Expect:");   /* no 100-continue round trip */
    h = h2 ? h2 : h;
    c->headers = h;
    if (!h) {
        *err = "cannot build the request headers";
        return NULL;
    }
#define SET(opt, val) if (cc == CURLE_OK) cc = curl_easy_setopt(c->easy, opt, val)
    SET(CURLOPT_URL, o->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SET(CURLOPT_POSTFIELDS, body);
    SET(CURLOPT_HTTPHEADER, c->headers);
    SET(CURLOPT_USERAGENT, o->user_agent ? o->user_agent : "mod_webot");
    SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, o->stall_secs);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, c);
    SET(CURLOPT_PRIVATE, c);
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
#undef SET
    if (cc != CURLE_OK) {
        *err = apr_pstrcat(p, "curl option: ", curl_easy_strerror(cc), NULL);
        return NULL;
    }
    return c;
}

CURL *webot_exec_call_easy(webot_exec_call_t *c)
{
    return c->easy;
}

webot_exec_call_t *webot_exec_call_of(CURL *easy)
{
    char *priv = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    return (webot_exec_call_t *)priv;
}

void webot_exec_call_set_user(webot_exec_call_t *c, void *user)
{
    c->user = user;
}

void *webot_exec_call_user(webot_exec_call_t *c)
{
    return c->user;
}

webot_exec_outcome_e webot_exec_call_result(webot_exec_call_t *c,
                                            CURLcode cc, apr_pool_t *p,
                                            const char **deliverable,
                                            int *review_required,
                                            const char **why)
{
    long status = 0;

    *deliverable = NULL;
    *review_required = 0;
    if (c->too_big) {
        *why = apr_psprintf(p, "executor answer larger than %lu bytes",
                            (unsigned long)c->max);
        return WEBOT_EXEC_PERMANENT;
    }
    if (cc != CURLE_OK) {
        *why = apr_psprintf(p, "executor call failed: %s%s%s",
                            curl_easy_strerror(cc),
                            c->errbuf[0] ? ": " : "", c->errbuf);
        return WEBOT_EXEC_RETRY;
    }
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    return webot_exec_classify(p, status, c->buf ? c->buf : "", c->len,
                               deliverable, review_required, why);
}
