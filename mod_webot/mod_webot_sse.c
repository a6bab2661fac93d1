/* mod_webot_sse.c: GET /jobs/{id}/events as a Server-Sent Events stream,
 * and the directives of event streams.
 *
 * A stream runs in its request's worker thread:
 *   1. the job is checked on the request's pooled connection (404 for
 *      another account's), which is then given back to mod_dbd;
 *   2. a dedicated libpq connection (WebotNotifyConnInfo, default the
 *      database of the mod_dbd pool) takes one of the account's stream slots (429
 *      beyond WebotEventStreamsPerAccount) and LISTENs on
 *      webot_job_events;
 *   3. events after Last-Event-ID / ?after are sent and flushed one by one;
 *      then the thread sleeps in poll() on that connection and on the
 *      client's socket: a notification for this job reads the new events
 *      (no polling of the database), a closed client ends the stream at
 *      once, `: keep-alive` goes out every 15 s (and the events are read
 *      once more then, a safety net), and after 10 minutes the stream ends
 *      (the client reconnects with Last-Event-ID);
 *   4. the stream ends after a terminal event (completed, rejected,
 *      canceled). */
#include "mod_webot.h"
#include "mod_webot_jobs.h"
#include "mod_webot_worker.h"
#include "webot_job.h"
#include "webot_store_jobs.h"
#include "webot_stream.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_portable.h>
#include <http_core.h>
#include <http_connection.h>

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#define KEEPALIVE_SECS   15
#define MAX_STREAM_SECS  600
#define FETCH_BATCH      200
#define DEFAULT_STREAMS  5

/* --- directives ------------------------------------------------------------ */

/* WebotEventStreamsPerAccount, set while the configuration is read and
 * reset when its pool goes (graceful restarts read it again). The LISTEN
 * connection's conninfo is the worker's WebotNotifyConnInfo (shared by
 * every LISTEN/NOTIFY user), else the database of the mod_dbd pool. */
static int cfg_streams = -1;

static apr_status_t cfg_reset(void *d)
{
    (void)d;
    cfg_streams = -1;
    return APR_SUCCESS;
}

const char *webot_jobs_set_stream_limit(cmd_parms *cmd, void *d,
                                        const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long long v;
    (void)d;
    if (err) {
        return err;
    }
    if ((err = webot_parse_directive_int(cmd->pool,
             "WebotEventStreamsPerAccount", arg, 1, 1000, &v))) {
        return err;
    }
    cfg_streams = (int)v;
    apr_pool_cleanup_register(cmd->pool, NULL, cfg_reset,
                              apr_pool_cleanup_null);
    return NULL;
}

static const char *notify_conninfo(webot_req_t *wr)
{
    const char *c = webot_notify_conninfo();
    return c ? c : webot_conninfo_from_dbd(wr->p, wr->r->server);
}

/* --- the stream ----------------------------------------------------------------- */

int webot_jobs_wants_stream(request_rec *r)
{
    const char *acc = apr_table_get(r->headers_in, "Accept");
    return acc && ap_strcasestr(acc, "text/event-stream") != NULL;
}

/* Writes and flushes; -1 when the client is gone. */
static int put(request_rec *r, const char *s, apr_size_t len)
{
    if (r->connection->aborted || ap_rwrite(s, (int)len, r) < 0
        || ap_rflush(r) < 0 || r->connection->aborted) {
        return -1;
    }
    return 0;
}

static int send_event(webot_req_t *wr, const webot_event_row_t *e)
{
    apr_array_header_t *buf = apr_array_make(wr->p, 512, 1);
    const char *text;

    webot_buf_puts(buf, apr_psprintf(wr->p, "id: %d\nevent: ", e->seq));
    webot_buf_puts(buf, e->type);
    webot_buf_puts(buf, "\ndata: {\"id\":");
    webot_json_quote(buf, e->id);
    webot_buf_puts(buf, apr_psprintf(wr->p, ",\"seq\":%d,\"type\":", e->seq));
    webot_json_quote(buf, e->type);
    webot_buf_puts(buf, ",\"status\":");
    webot_json_quote(buf, e->status);
    webot_buf_puts(buf, ",\"message\":");
    webot_json_quote(buf, e->message);
    webot_buf_puts(buf, ",\"created_at\":");
    webot_json_quote(buf, e->created_at);
    webot_buf_puts(buf, "}\n\n");
    text = webot_buf_text(buf);
    return put(wr->r, text, strlen(text));
}

/* Sends the events after *last; *done when the job is terminal and all of
 * its events went out. -1 when the client or the database is gone. */
static int pump(webot_req_t *wr, webot_stream_t *s, apr_pool_t *p,
                int *last, int *done)
{
    for (;;) {
        apr_array_header_t *events;
        const char *status;
        int found, i;

        apr_pool_clear(p);
        if (webot_stream_fetch(s, p, wr->auth->account_id, wr->id, *last,
                               FETCH_BATCH, &found, &status, &events)) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, wr->r, APLOGNO(30220)
                          "event stream of %s: reading events failed: %s "
                          "(request_id %s)", wr->id,
                          webot_stream_error(s), wr->request_id);
            return -1;
        }
        if (!found) {
            *done = 1;              /* the job is gone */
            return 0;
        }
        for (i = 0; i < events->nelts; i++) {
            webot_event_row_t *e = APR_ARRAY_IDX(events, i,
                                                 webot_event_row_t *);
            if (send_event(wr, e)) {
                return -1;
            }
            *last = e->seq;
        }
        if (events->nelts < FETCH_BATCH) {
            *done = webot_job_status_terminal(
                webot_job_status_parse(status));
            return 0;
        }
    }
}

/* Has the client closed its end? (Only read without consuming.) */
static int client_gone(int fd, int *watch)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {
        return 1;
    }
    if (n < 0) {
        return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
    /* data (a pipelined request, TLS records): stop watching the socket
     * and rely on write errors, so that we do not spin on it */
    *watch = 0;
    return 0;
}

static int client_fd(request_rec *r)
{
    apr_socket_t *sock = ap_get_conn_socket(r->connection);
    apr_os_sock_t fd;
    if (!sock || apr_os_sock_get(&fd, sock) != APR_SUCCESS) {
        return -1;
    }
    return (int)fd;
}

int webot_jobs_stream(webot_req_t *wr, int after)
{
    request_rec *r = wr->r;
    webot_job_row_t *row;
    webot_stream_t *s;
    webot_error_t *err = NULL;
    webot_db_t *db;
    webot_dbrc_e rc;
    apr_pool_t *tmp;
    apr_time_t deadline, next_ka;
    const char *conninfo, *why = NULL;
    int limit = cfg_streams > 0 ? cfg_streams : DEFAULT_STREAMS;
    int last = after, done = 0, slot, cfd, watch_client;

    if (!(db = webot_req_db(wr, &err))) {
        return webot_send_error(wr, err);
    }
    if ((rc = webot_store_job_get(db, wr->p, wr->auth->account_id, wr->id,
                                  &row)) != WEBOT_DB_OK) {
        return webot_send_error(wr, webot_db_error(wr->p, rc));
    }
    if (!row) {
        return webot_fail(wr, "NOT_FOUND", "No job %s in this account.",
                          ap_escape_logitem(wr->p, wr->id));
    }
    /* the pooled connection is not held for the stream's minutes */
    webot_req_db_release(wr);

    if (!(conninfo = notify_conninfo(wr))) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30221)
                      "event stream: no connection string for LISTEN "
                      "(WebotNotifyConnInfo, or a pooled connection) "
                      "(request_id %s)", wr->request_id);
        return webot_fail(wr, "SERVICE_UNAVAILABLE",
                          "Event streams are unavailable; list the events "
                          "as JSON instead.");
    }
    if (!(s = webot_stream_open(wr->p, conninfo, &why))) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30222)
                      "event stream: cannot connect for LISTEN: %s "
                      "(request_id %s)", why ? why : "?", wr->request_id);
        return webot_fail(wr, "SERVICE_UNAVAILABLE",
                          "The database is unavailable; retry in a few "
                          "seconds.");
    }
    if ((slot = webot_stream_claim(s, wr->auth->account_id, limit)) < 0) {
        webot_error_t *e;
        if (slot == -2) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30223)
                          "event stream: claiming a slot failed: %s "
                          "(request_id %s)", webot_stream_error(s),
                          wr->request_id);
            webot_stream_close(s);
            return webot_fail(wr, "SERVICE_UNAVAILABLE",
                              "The database is unavailable; retry in a few "
                              "seconds.");
        }
        webot_stream_close(s);
        e = webot_error_make(wr->p, "RATE_LIMITED",
            "This account already has %d open event streams; close one, "
            "or list events as JSON (GET without Accept: "
            "text/event-stream).", limit);
        e->retry_after = 5;
        return webot_send_error(wr, e);
    }
    if (webot_stream_listen(s)) {
        webot_stream_close(s);
        return webot_fail(wr, "SERVICE_UNAVAILABLE",
                          "The database is unavailable; retry in a few "
                          "seconds.");
    }

    /* the answer's head: no length, no compression, no proxy buffering */
    wr->sent = 1;
    r->status = HTTP_OK;
    ap_set_content_type(r, "text/event-stream; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Accel-Buffering", "no");
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
    apr_table_unset(r->headers_out, "Content-Length");
    if (r->header_only) {
        webot_stream_close(s);
        return OK;
    }
    if (put(r, ": stream of job events\n\n", 24)) {
        webot_stream_close(s);
        return OK;
    }

    apr_pool_create(&tmp, wr->p);
    apr_pool_tag(tmp, "webot_sse");
    deadline = apr_time_now() + apr_time_from_sec(MAX_STREAM_SECS);
    next_ka = apr_time_now() + apr_time_from_sec(KEEPALIVE_SECS);
    /* an HTTP/2 stream shares its socket with others: not watched */
    cfd = r->connection->master ? -1 : client_fd(r);
    watch_client = cfd >= 0;

    if (pump(wr, s, tmp, &last, &done) == 0) {
        while (!done) {
            struct pollfd pfd[2];
            apr_time_t now = apr_time_now();
            apr_time_t until = next_ka < deadline ? next_ka : deadline;
            int timeout = until > now ? (int)((until - now) / 1000) + 1 : 0;
            int nfd = 1, hit = 0, rv;

            /* libpq keeps notifications that arrived while a query ran
             * (the last fetch): the socket will not signal them again */
            if (webot_stream_consume(s, wr->id, &hit)) {
                break;
            }
            if (hit) {
                if (pump(wr, s, tmp, &last, &done)) {
                    break;
                }
                continue;
            }
            pfd[0].fd = webot_stream_socket(s);
            pfd[0].events = POLLIN;
            pfd[0].revents = 0;
            if (watch_client) {
                pfd[1].fd = cfd;
                pfd[1].events = POLLIN | POLLRDHUP;
                pfd[1].revents = 0;
                nfd = 2;
            }
            rv = poll(pfd, (nfds_t)nfd, timeout);
            if (rv < 0 && errno != EINTR) {
                break;
            }
            if (rv > 0 && nfd == 2 && pfd[1].revents
                && client_gone(cfd, &watch_client)) {
                break;              /* the client went away */
            }
            if (rv > 0 && pfd[0].revents) {
                if (webot_stream_consume(s, wr->id, &hit)) {
                    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                                  APLOGNO(30224) "event stream of %s: the "
                                  "LISTEN connection was lost: %s "
                                  "(request_id %s)", wr->id,
                                  webot_stream_error(s), wr->request_id);
                    break;          /* the client reconnects and resumes */
                }
                if (hit && pump(wr, s, tmp, &last, &done)) {
                    break;
                }
            }
            now = apr_time_now();
            if (now >= deadline) {
                break;              /* reconnect with Last-Event-ID */
            }
            if (now >= next_ka) {
                if (put(r, ": keep-alive\n\n", 14)) {
                    break;
                }
                next_ka = now + apr_time_from_sec(KEEPALIVE_SECS);
                /* a safety net every 15 s, not a poll: a notification lost
                 * with a connection hiccup is caught up here */
                if (pump(wr, s, tmp, &last, &done)) {
                    break;
                }
            }
        }
    }
    webot_stream_close(s);
    apr_pool_destroy(tmp);
    return OK;
}
