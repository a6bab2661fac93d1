/* webot_job.c: the job state machine, event texts and the job object. */
#include "webot_job.h"

#include <apr_strings.h>
#include <string.h>

static const char *const status_names[WEBOT_JOB_NSTATUS] = {
    "queued", "accepted", "running", "needs_review",
    "ready_for_customer_review", "completed", "rejected", "canceled"
};

int webot_job_status_parse(const char *s)
{
    int i;
    for (i = 0; s && i < WEBOT_JOB_NSTATUS; i++) {
        if (!strcmp(s, status_names[i])) {
            return i;
        }
    }
    return -1;
}

const char *webot_job_status_name(int st)
{
    return st >= 0 && st < WEBOT_JOB_NSTATUS ? status_names[st] : NULL;
}

int webot_job_status_terminal(int st)
{
    return st == WEBOT_JOB_COMPLETED || st == WEBOT_JOB_REJECTED
        || st == WEBOT_JOB_CANCELED;
}

int webot_job_status_active(int st)
{
    return st == WEBOT_JOB_QUEUED || st == WEBOT_JOB_ACCEPTED
        || st == WEBOT_JOB_RUNNING;
}

unsigned webot_job_action_parse(const char *s)
{
    if (!s) {
        return 0;
    }
    if (!strcmp(s, "approve")) {
        return WEBOT_ACT_APPROVE;
    }
    if (!strcmp(s, "revision")) {
        return WEBOT_ACT_REVISION;
    }
    if (!strcmp(s, "cancel")) {
        return WEBOT_ACT_CANCEL;
    }
    return 0;
}

const char *webot_job_action_name(unsigned act)
{
    switch (act) {
    case WEBOT_ACT_APPROVE:  return "approve";
    case WEBOT_ACT_REVISION: return "revision";
    case WEBOT_ACT_CANCEL:   return "cancel";
    default:                 return NULL;
    }
}

unsigned webot_job_allowed_actions(int st, int revision_count,
                                   int max_revisions)
{
    if (st < 0 || st >= WEBOT_JOB_NSTATUS || webot_job_status_terminal(st)) {
        return 0;
    }
    if (st == WEBOT_JOB_READY) {
        return WEBOT_ACT_APPROVE | WEBOT_ACT_CANCEL
            | (revision_count < max_revisions ? WEBOT_ACT_REVISION : 0);
    }
    return WEBOT_ACT_CANCEL;
}

const char *webot_job_actions_json(unsigned acts)
{
    /* indexed by the bits: approve 1, revision 2, cancel 4 */
    static const char *const texts[8] = {
        "[]",
        "[\"approve\"]",
        "[\"revision\"]",
        "[\"approve\",\"revision\"]",
        "[\"cancel\"]",
        "[\"approve\",\"cancel\"]",
        "[\"revision\",\"cancel\"]",
        "[\"approve\",\"revision\",\"cancel\"]"
    };
    return texts[acts & 7];
}

webot_move_e webot_job_customer_move(unsigned act, int st,
                                     int revision_count, int max_revisions,
                                     int *to)
{
    unsigned allowed = webot_job_allowed_actions(st, revision_count,
                                                 max_revisions);
    *to = st;
    /* A repeated approve or cancel is a safe retry, not a conflict. */
    if ((act == WEBOT_ACT_APPROVE && st == WEBOT_JOB_COMPLETED)
        || (act == WEBOT_ACT_CANCEL && st == WEBOT_JOB_CANCELED)) {
        return WEBOT_MOVE_NOOP;
    }
    if (!(allowed & act)) {
        return WEBOT_MOVE_INVALID;
    }
    switch (act) {
    case WEBOT_ACT_APPROVE:  *to = WEBOT_JOB_COMPLETED; break;
    case WEBOT_ACT_REVISION: *to = WEBOT_JOB_QUEUED; break;
    case WEBOT_ACT_CANCEL:   *to = WEBOT_JOB_CANCELED; break;
    default:                 return WEBOT_MOVE_INVALID;
    }
    return WEBOT_MOVE_OK;
}

const char *webot_job_action_from_sql(unsigned act)
{
    switch (act) {
    case WEBOT_ACT_APPROVE:
    case WEBOT_ACT_REVISION:
        return "{ready_for_customer_review}";
    case WEBOT_ACT_CANCEL:
        return "{queued,accepted,running,needs_review,"
               "ready_for_customer_review}";
    default:
        return "{}";
    }
}

int webot_job_transition_allowed(int from, int to, webot_job_actor_e by)
{
    if (from < 0 || from >= WEBOT_JOB_NSTATUS || to < 0
        || to >= WEBOT_JOB_NSTATUS || webot_job_status_terminal(from)) {
        return 0;
    }
    switch (by) {
    case WEBOT_BY_WORKER:
        return (from == WEBOT_JOB_QUEUED
                && (to == WEBOT_JOB_ACCEPTED || to == WEBOT_JOB_REJECTED))
            || (from == WEBOT_JOB_ACCEPTED && to == WEBOT_JOB_RUNNING)
            || (from == WEBOT_JOB_RUNNING
                && (to == WEBOT_JOB_NEEDS_REVIEW || to == WEBOT_JOB_READY));
    case WEBOT_BY_STAFF:
        return from == WEBOT_JOB_NEEDS_REVIEW
            && (to == WEBOT_JOB_READY || to == WEBOT_JOB_REJECTED);
    case WEBOT_BY_CUSTOMER:
        return to == WEBOT_JOB_CANCELED
            || (from == WEBOT_JOB_READY
                && (to == WEBOT_JOB_COMPLETED || to == WEBOT_JOB_QUEUED));
    }
    return 0;
}

/* --- events ---------------------------------------------------------- */

static const struct {
    const char *type;
    const char *message;
    const char *refunded;       /* the message when a quota unit came back */
} event_texts[] = {
    { "job.queued",
      "The job was received and is waiting to be picked up.", NULL },
    { "job.accepted",
      "The job was accepted and is being prepared.", NULL },
    { "job.running",
      "Work on the job has started.", NULL },
    { "job.needs_review",
      "The deliverable is being checked by staff before delivery.", NULL },
    { "job.ready_for_customer_review",
      "The deliverable is ready for your review.", NULL },
    { "job.completed",
      "You approved the deliverable; the job is complete.", NULL },
    { "job.rejected",
      "The job was rejected.",
      "The job was rejected. Its quota unit has been refunded." },
    { "job.canceled",
      "The job was canceled at your request.",
      "The job was canceled at your request. Its quota unit has been "
      "refunded." },
    { "job.revision_requested",
      "You asked for a revision; the job is queued again.", NULL },
    { NULL, NULL, NULL }
};

const char *webot_job_event_type(int to, unsigned act)
{
    static const char *const types[WEBOT_JOB_NSTATUS] = {
        "job.queued", "job.accepted", "job.running", "job.needs_review",
        "job.ready_for_customer_review", "job.completed", "job.rejected",
        "job.canceled"
    };
    if (act == WEBOT_ACT_REVISION) {
        return "job.revision_requested";
    }
    return to >= 0 && to < WEBOT_JOB_NSTATUS ? types[to] : NULL;
}

const char *webot_job_event_message(const char *type, int refunded)
{
    int i;
    for (i = 0; type && event_texts[i].type; i++) {
        if (!strcmp(type, event_texts[i].type)) {
            return refunded && event_texts[i].refunded
                ? event_texts[i].refunded : event_texts[i].message;
        }
    }
    return "The job changed.";
}

/* --- rendering --------------------------------------------------------- */

/* The buffers are apr arrays of char, grown here directly (the same
 * doubling apr_array_push does, without one call per byte). */
static void buf_putn(apr_array_header_t *buf, const char *s, apr_size_t n)
{
    if ((apr_size_t)(buf->nalloc - buf->nelts) < n) {
        apr_size_t cap = buf->nalloc > 0 ? (apr_size_t)buf->nalloc : 64;
        char *ne;
        while (cap - (apr_size_t)buf->nelts < n) {
            cap *= 2;
        }
        ne = apr_palloc(buf->pool, cap);
        memcpy(ne, buf->elts, (apr_size_t)buf->nelts);
        buf->elts = ne;
        buf->nalloc = (int)cap;
    }
    memcpy(buf->elts + buf->nelts, s, n);
    buf->nelts += (int)n;
}

void webot_buf_puts(apr_array_header_t *buf, const char *s)
{
    buf_putn(buf, s, strlen(s));
}

static void buf_putc(apr_array_header_t *buf, char c)
{
    buf_putn(buf, &c, 1);
}

char *webot_buf_text(apr_array_header_t *buf)
{
    buf_putc(buf, '\0');
    buf->nelts--;
    return buf->elts;
}

void webot_json_quote(apr_array_header_t *buf, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    const unsigned char *run = u;

    buf_putc(buf, '"');
    for (; *u; u++) {
        const char *esc = NULL;
        char ubuf[7];
        if (*u >= 0x20 && *u != '"' && *u != '\\') {
            continue;
        }
        if (u > run) {
            /* flush the plain run */
            buf_putn(buf, (const char *)run, (apr_size_t)(u - run));
        }
        switch (*u) {
        case '"':  esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            ubuf[0] = '\\', ubuf[1] = 'u', ubuf[2] = '0', ubuf[3] = '0';
            ubuf[4] = hex[*u >> 4], ubuf[5] = hex[*u & 15], ubuf[6] = '\0';
            esc = ubuf;
        }
        webot_buf_puts(buf, esc);
        run = u + 1;
    }
    if (u > run) {
        buf_putn(buf, (const char *)run, (apr_size_t)(u - run));
    }
    buf_putc(buf, '"');
}

void webot_json_minify(apr_array_header_t *buf, const char *json)
{
    const char *s = json, *start = json;
    int in_str = 0;

    for (; *s; s++) {
        if (in_str) {
            if (*s == '\\' && s[1]) {
                s++;
            }
            else if (*s == '"') {
                in_str = 0;
            }
            continue;
        }
        if (*s == '"') {
            in_str = 1;
        }
        else if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') {
            if (s > start) {
                buf_putn(buf, start, (apr_size_t)(s - start));
            }
            start = s + 1;
        }
    }
    if (s > start) {
        webot_buf_puts(buf, start);
    }
}

static void put_key(apr_array_header_t *buf, const char *key, int first)
{
    if (!first) {
        buf_putc(buf, ',');
    }
    buf_putc(buf, '"');
    webot_buf_puts(buf, key);
    webot_buf_puts(buf, "\":");
}

static void put_str(apr_array_header_t *buf, const char *key,
                    const char *v)
{
    put_key(buf, key, 0);
    if (v) {
        webot_json_quote(buf, v);
    }
    else {
        webot_buf_puts(buf, "null");
    }
}

static void put_raw(apr_array_header_t *buf, const char *key,
                    const char *json, const char *dflt)
{
    put_key(buf, key, 0);
    if (json && *json) {
        webot_json_minify(buf, json);
    }
    else {
        webot_buf_puts(buf, dflt);
    }
}

char *webot_job_render(apr_pool_t *p, const webot_job_t *j,
                       const char *base)
{
    apr_array_header_t *buf = apr_array_make(p, 1024, 1);
    int st = webot_job_status_parse(j->status);
    char num[32];

    buf_putc(buf, '{');
    put_key(buf, "id", 1);
    webot_json_quote(buf, j->id);
    put_str(buf, "status", j->status);
    put_str(buf, "service_family", j->service_family);
    put_str(buf, "service_option", j->service_option);
    put_str(buf, "title", j->title);
    put_raw(buf, "intake", j->intake_json, "{}");
    put_raw(buf, "file_ids", j->file_ids_json, "[]");
    put_raw(buf, "metadata", j->metadata_json, "{}");
    put_key(buf, "revision_count", 0);
    apr_snprintf(num, sizeof(num), "%d", j->revision_count);
    webot_buf_puts(buf, num);
    put_key(buf, "max_revisions", 0);
    apr_snprintf(num, sizeof(num), "%d", j->max_revisions);
    webot_buf_puts(buf, num);
    put_raw(buf, "deliverable", j->deliverable_json, "null");
    put_key(buf, "allowed_actions", 0);
    webot_buf_puts(buf, webot_job_actions_json(webot_job_allowed_actions(
        st, j->revision_count, j->max_revisions)));
    put_str(buf, "created_at", j->created_at);
    put_str(buf, "updated_at", j->updated_at);
    put_key(buf, "links", 0);
    buf_putc(buf, '{');
    put_key(buf, "self", 1);
    webot_json_quote(buf, apr_pstrcat(p, base, "/jobs/", j->id, NULL));
    put_str(buf, "events", apr_pstrcat(p, base, "/jobs/", j->id, "/events",
                                       NULL));
    webot_buf_puts(buf, "}}");
    return webot_buf_text(buf);
}
