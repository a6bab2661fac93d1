/* mod_webot_io.c: the response layer every route uses, and bounded body
 * reading. One place decides the headers of every answer. */
#include "mod_webot.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <util_script.h>

#define DEFAULT_MAX_BODY 65536

static void common_headers(webot_req_t *wr)
{
    request_rec *r = wr->r;
    if (!wr->route || wr->route->auth != WEBOT_AUTH_PUBLIC) {
        apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    }
}

/* Does If-None-Match name this entity tag? Handles lists, "*" and W/. */
static int etag_matches(const char *inm, const char *etag)
{
    apr_size_t n = strlen(etag);
    while (inm && *inm) {
        while (*inm == ' ' || *inm == ',' || *inm == '\t') {
            inm++;
        }
        if (*inm == '*') {
            return 1;
        }
        if (!strncmp(inm, "W/", 2)) {
            inm += 2;
        }
        if (!strncmp(inm, etag, n)
            && (inm[n] == '\0' || inm[n] == ',' || inm[n] == ' ')) {
            return 1;
        }
        inm = strchr(inm, ',');
    }
    return 0;
}

int webot_send_bytes(webot_req_t *wr, int status, const char *ctype,
                     const char *body, apr_size_t len, const char *etag)
{
    request_rec *r = wr->r;

    wr->sent = 1;
    if (wr->capture) {
        wr->capture->status = status;
        wr->capture->ctype = ctype;
        wr->capture->body = apr_pstrmemdup(wr->p, body ? body : "", len);
        wr->capture->len = len;
        return OK;
    }
    common_headers(wr);
    if (etag) {
        const char *inm = apr_table_get(r->headers_in, "If-None-Match");
        apr_table_setn(r->headers_out, "ETag", etag);
        if (status == HTTP_OK && inm && etag_matches(inm, etag)) {
            r->status = HTTP_NOT_MODIFIED;
            return OK;
        }
    }
    r->status = status;
    ap_set_content_type(r, ctype);
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only && len) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

int webot_send_json(webot_req_t *wr, int status, json_t *body)
{
    const char *s = webot_json_dump(wr->p, body);
    return webot_send_bytes(wr, status, "application/json", s, strlen(s),
                            NULL);
}

int webot_send_error(webot_req_t *wr, const webot_error_t *e)
{
    request_rec *r = wr->r;
    json_t *body;

    if (e->code && !strcmp(e->code, "SERVICE_UNAVAILABLE") && wr->db
        && wr->db->down && !wr->attempt && !wr->sent) {
        return WEBOT_AGAIN;
    }
    if (e->status >= 500) {
        /* A 500 is a fault of ours; a 503 is a known, transient condition
         * (database away, checkout not available) logged as a warning. */
        ap_log_rerror(APLOG_MARK, e->status == HTTP_SERVICE_UNAVAILABLE
                      ? APLOG_WARNING : APLOG_ERR, 0, r, APLOGNO(30010)
                      "%s %s -> %d %s (request_id %s)%s%s", r->method,
                      ap_escape_logitem(r->pool, r->uri), e->status, e->code,
                      wr->request_id, wr->db ? ": " : "",
                      wr->db ? ap_escape_logitem(r->pool,
                                                 webot_db_errmsg(wr->db))
                             : "");
    }
    if (e->retry_after > 0) {
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_itoa(r->pool, e->retry_after));
    }
    if (e->status == HTTP_UNAUTHORIZED) {
        apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                       "Bearer realm=\"webot\"");
    }
    body = webot_json_own(wr->p, webot_error_json(e, wr->request_id));
    /* errors are never cached, whoever asked */
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    return webot_send_json(wr, e->status, body);
}

int webot_fail(webot_req_t *wr, const char *code, const char *fmt, ...)
{
    webot_error_t *e = webot_error_make(wr->p, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    e->message = apr_pvsprintf(wr->p, fmt, ap);
    va_end(ap);
    return webot_send_error(wr, e);
}

static int is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    apr_size_t n = sizeof(want) - 1;
    if (!ct || strncasecmp(ct, want, n)) {
        return 0;
    }
    ct += n;
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    return *ct == '\0' || *ct == ';';
}

webot_error_t *webot_read_raw_body(webot_req_t *wr, apr_off_t max)
{
    request_rec *r = wr->r;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t declared = -1;
    char *buf;
    apr_size_t len = 0, cap;
    long got;

    if (cl && apr_strtoff(&declared, cl, NULL, 10) == APR_SUCCESS
        && declared > max) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return webot_error_make(wr->p, "PAYLOAD_TOO_LARGE",
            "The request body is larger than %" APR_OFF_T_FMT " bytes.",
            max);
    }
    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        return webot_error_make(wr->p, "BAD_REQUEST",
                                "The request body could not be read.");
    }
    wr->raw_body = "";
    wr->raw_len = 0;
    if (!ap_should_client_block(r)) {
        return NULL;
    }
    cap = declared >= 0 ? (apr_size_t)declared + 1 : 8192;
    buf = apr_palloc(wr->p, cap + 1);
    for (;;) {
        if (len == cap) {
            char *nb;
            if ((apr_off_t)cap > max) {
                break;
            }
            cap *= 2;
            if ((apr_off_t)cap > max + 1) {
                cap = (apr_size_t)max + 1;
            }
            nb = apr_palloc(wr->p, cap + 1);
            memcpy(nb, buf, len);
            buf = nb;
        }
        got = ap_get_client_block(r, buf + len, cap - len);
        if (got < 0) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return webot_error_make(wr->p, "BAD_REQUEST",
                                    "The request body could not be read.");
        }
        if (got == 0) {
            break;
        }
        len += (apr_size_t)got;
        if ((apr_off_t)len > max) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return webot_error_make(wr->p, "PAYLOAD_TOO_LARGE",
                "The request body is larger than %" APR_OFF_T_FMT " bytes.",
                max);
        }
    }
    buf[len] = '\0';
    wr->raw_body = buf;
    wr->raw_len = len;
    return NULL;
}

webot_error_t *webot_body_object_error(webot_req_t *wr)
{
    webot_error_t *e;

    if (json_is_object(wr->body)) {
        return NULL;
    }
    e = webot_error_make(wr->p, "VALIDATION_ERROR",
                         "The request body is not valid.");
    webot_error_add_param(wr->p, e, NULL,
                          "the request body must be a JSON object");
    return e;
}

webot_error_t *webot_read_json_body(webot_req_t *wr)
{
    request_rec *r = wr->r;
    apr_off_t max = wr->sc->max_body > 0 ? wr->sc->max_body
                                         : DEFAULT_MAX_BODY;
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    const char *why = NULL;
    webot_error_t *e;
    apr_size_t i;

    /* An empty body needs no type; anything else must say it is JSON. The
     * type is checked before a byte is read. */
    if (ct && !is_json_type(ct)) {
        return webot_error_make(wr->p, "UNSUPPORTED_MEDIA_TYPE",
            "The request body must be application/json.");
    }
    if ((e = webot_read_raw_body(wr, max))) {
        return e;
    }
    for (i = 0; i < wr->raw_len && apr_isspace(wr->raw_body[i]); i++)
        ;
    if (i == wr->raw_len) {
        /* no body: the same as {} (required fields are then reported) */
        wr->body = webot_json_own(wr->p, json_object());
        return NULL;
    }
    if (!ct) {
        return webot_error_make(wr->p, "UNSUPPORTED_MEDIA_TYPE",
            "The request body must be application/json.");
    }
    wr->body = webot_json_parse_any(wr->p, wr->raw_body, wr->raw_len, &why);
    if (!wr->body) {
        return webot_error_make(wr->p, "BAD_REQUEST",
                                "The request body is not valid JSON: %s.",
                                why);
    }
    return NULL;
}

apr_table_t *webot_query(webot_req_t *wr)
{
    apr_table_t *t = NULL;
    ap_args_to_table(wr->r, &t);
    return t;
}
