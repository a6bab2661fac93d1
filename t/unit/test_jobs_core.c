/* test_jobs_core.c: C unit tests of the jobs core: the state machine
 * (allowed actions, customer moves, the contract's transition table, event
 * types and texts), the job renderer and JSON helpers, the HMAC cursor codec
 * (round trip, tampering, other account, other filters, malformed input)
 * and Idempotency-Key fingerprints. Prints TAP, exits non-zero on failure. */
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "webot_util.h"
#include "webot_json.h"
#include "webot_job.h"
#include "webot_cursor.h"
#include "webot_idem.h"

#include "tap.h"

static apr_pool_t *P;

static int is_str(const char *got, const char *want, const char *name)
{
    int c = (got && want && !strcmp(got, want)) || (!got && !want);
    if (!ok(c, "%s", name)) {
        printf("#   got:      %s\n#   expected: %s\n", got ? got : "(null)",
               want ? want : "(null)");
    }
    return c;
}

/* --- state machine -------------------------------------------------------- */

static void test_statuses(void)
{
    static const char *const names[] = { "queued", "accepted", "running",
        "needs_review", "ready_for_customer_review", "completed", "rejected",
        "canceled" };
    int i;
    for (i = 0; i < WEBOT_JOB_NSTATUS; i++) {
        ok(webot_job_status_parse(names[i]) == i
           && !strcmp(webot_job_status_name(i), names[i]),
           "status %s round-trips in the contract's order", names[i]);
    }
    ok(webot_job_status_parse("done") == -1, "unknown status: -1");
    ok(webot_job_status_parse(NULL) == -1, "NULL status: -1");
    ok(webot_job_status_parse("Queued") == -1, "statuses are case-sensitive");
    ok(webot_job_status_name(99) == NULL, "name of a bad status: NULL");
    ok(webot_job_status_terminal(WEBOT_JOB_COMPLETED)
       && webot_job_status_terminal(WEBOT_JOB_REJECTED)
       && webot_job_status_terminal(WEBOT_JOB_CANCELED),
       "completed, rejected, canceled are terminal");
    ok(!webot_job_status_terminal(WEBOT_JOB_READY)
       && !webot_job_status_terminal(WEBOT_JOB_NEEDS_REVIEW),
       "review statuses are not terminal");
    ok(webot_job_status_active(WEBOT_JOB_QUEUED)
       && webot_job_status_active(WEBOT_JOB_ACCEPTED)
       && webot_job_status_active(WEBOT_JOB_RUNNING)
       && !webot_job_status_active(WEBOT_JOB_NEEDS_REVIEW)
       && !webot_job_status_active(WEBOT_JOB_READY)
       && !webot_job_status_active(WEBOT_JOB_CANCELED),
       "active: queued, accepted, running");
}

static void test_allowed(void)
{
    int st;
    for (st = 0; st < WEBOT_JOB_NSTATUS; st++) {
        unsigned a = webot_job_allowed_actions(st, 0, 2);
        if (webot_job_status_terminal(st)) {
            ok(a == 0, "%s: no action", webot_job_status_name(st));
        }
        else if (st == WEBOT_JOB_READY) {
            ok(a == (WEBOT_ACT_APPROVE | WEBOT_ACT_REVISION | WEBOT_ACT_CANCEL),
               "ready: approve, revision, cancel");
        }
        else {
            ok(a == WEBOT_ACT_CANCEL, "%s: cancel only",
               webot_job_status_name(st));
        }
    }
    ok(webot_job_allowed_actions(WEBOT_JOB_READY, 2, 2)
       == (WEBOT_ACT_APPROVE | WEBOT_ACT_CANCEL),
       "ready with revisions used up: no revision");
    ok(webot_job_allowed_actions(WEBOT_JOB_READY, 0, 0)
       == (WEBOT_ACT_APPROVE | WEBOT_ACT_CANCEL),
       "a plan without revisions: no revision");
    ok(webot_job_allowed_actions(-1, 0, 2) == 0, "bad status: nothing");
    is_str(webot_job_actions_json(0), "[]", "actions json: []");
    is_str(webot_job_actions_json(WEBOT_ACT_CANCEL), "[\"cancel\"]",
           "actions json: cancel");
    is_str(webot_job_actions_json(WEBOT_ACT_APPROVE | WEBOT_ACT_REVISION
                                  | WEBOT_ACT_CANCEL),
           "[\"approve\",\"revision\",\"cancel\"]",
           "actions json: in the order approve, revision, cancel");
    ok(webot_job_action_parse("approve") == WEBOT_ACT_APPROVE
       && webot_job_action_parse("cancel") == WEBOT_ACT_CANCEL
       && webot_job_action_parse("revision") == WEBOT_ACT_REVISION
       && webot_job_action_parse("delete") == 0
       && webot_job_action_parse(NULL) == 0, "action names");
}

static void test_moves(void)
{
    int to, st;
    ok(webot_job_customer_move(WEBOT_ACT_APPROVE, WEBOT_JOB_READY, 0, 2, &to)
       == WEBOT_MOVE_OK && to == WEBOT_JOB_COMPLETED,
       "approve: ready → completed");
    ok(webot_job_customer_move(WEBOT_ACT_REVISION, WEBOT_JOB_READY, 1, 2,
                               &to) == WEBOT_MOVE_OK
       && to == WEBOT_JOB_QUEUED, "revision: ready → queued");
    ok(webot_job_customer_move(WEBOT_ACT_REVISION, WEBOT_JOB_READY, 2, 2,
                               &to) == WEBOT_MOVE_INVALID,
       "revision with none left: invalid");
    for (st = 0; st < WEBOT_JOB_NSTATUS; st++) {
        webot_move_e m = webot_job_customer_move(WEBOT_ACT_CANCEL, st, 0, 2,
                                                 &to);
        if (st == WEBOT_JOB_CANCELED) {
            ok(m == WEBOT_MOVE_NOOP && to == st, "cancel a canceled job: "
               "no-op");
        }
        else if (webot_job_status_terminal(st)) {
            ok(m == WEBOT_MOVE_INVALID, "cancel %s: invalid",
               webot_job_status_name(st));
        }
        else {
            ok(m == WEBOT_MOVE_OK && to == WEBOT_JOB_CANCELED,
               "cancel %s → canceled", webot_job_status_name(st));
        }
        m = webot_job_customer_move(WEBOT_ACT_APPROVE, st, 0, 2, &to);
        if (st == WEBOT_JOB_COMPLETED) {
            ok(m == WEBOT_MOVE_NOOP, "approve a completed job: no-op");
        }
        else if (st != WEBOT_JOB_READY) {
            ok(m == WEBOT_MOVE_INVALID, "approve %s: invalid",
               webot_job_status_name(st));
        }
    }
    ok(webot_job_customer_move(WEBOT_ACT_APPROVE, WEBOT_JOB_CANCELED, 0, 2,
                               &to) == WEBOT_MOVE_INVALID,
       "approve a canceled job: invalid (not a repeat)");
    ok(webot_job_customer_move(0, WEBOT_JOB_READY, 0, 2, &to)
       == WEBOT_MOVE_INVALID, "no action: invalid");
    is_str(webot_job_action_from_sql(WEBOT_ACT_APPROVE),
           "{ready_for_customer_review}", "approve guard");
    is_str(webot_job_action_from_sql(WEBOT_ACT_CANCEL),
           "{queued,accepted,running,needs_review,ready_for_customer_review}",
           "cancel guard: every non-terminal status");
}

static void test_table(void)
{
    /* the contract's table, exactly: from, to, by */
    static const struct { int from, to; webot_job_actor_e by; } allowed[] = {
        { WEBOT_JOB_QUEUED, WEBOT_JOB_ACCEPTED, WEBOT_BY_WORKER },
        { WEBOT_JOB_QUEUED, WEBOT_JOB_REJECTED, WEBOT_BY_WORKER },
        { WEBOT_JOB_ACCEPTED, WEBOT_JOB_RUNNING, WEBOT_BY_WORKER },
        { WEBOT_JOB_RUNNING, WEBOT_JOB_NEEDS_REVIEW, WEBOT_BY_WORKER },
        { WEBOT_JOB_RUNNING, WEBOT_JOB_READY, WEBOT_BY_WORKER },
        { WEBOT_JOB_NEEDS_REVIEW, WEBOT_JOB_READY, WEBOT_BY_STAFF },
        { WEBOT_JOB_NEEDS_REVIEW, WEBOT_JOB_REJECTED, WEBOT_BY_STAFF },
        { WEBOT_JOB_READY, WEBOT_JOB_COMPLETED, WEBOT_BY_CUSTOMER },
        { WEBOT_JOB_READY, WEBOT_JOB_QUEUED, WEBOT_BY_CUSTOMER },
    };
    int from, to, by, n = 0, bad = 0;
    size_t i;

    for (from = 0; from < WEBOT_JOB_NSTATUS; from++) {
        for (to = 0; to < WEBOT_JOB_NSTATUS; to++) {
            for (by = WEBOT_BY_CUSTOMER; by <= WEBOT_BY_STAFF; by++) {
                int want = 0;
                for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
                    if (allowed[i].from == from && allowed[i].to == to
                        && (int)allowed[i].by == by) {
                        want = 1;
                    }
                }
                if (by == WEBOT_BY_CUSTOMER && to == WEBOT_JOB_CANCELED
                    && !webot_job_status_terminal(from)) {
                    want = 1;       /* any non-terminal → canceled */
                }
                n += want;
                if (webot_job_transition_allowed(from, to,
                        (webot_job_actor_e)by) != want) {
                    bad++;
                    printf("# %s -> %s by %d: got %d\n",
                           webot_job_status_name(from),
                           webot_job_status_name(to), by, !want);
                }
            }
        }
    }
    ok(bad == 0, "transition table: all %d triples as the contract says "
       "(%d allowed)", WEBOT_JOB_NSTATUS * WEBOT_JOB_NSTATUS * 3, n);
}

static void test_events(void)
{
    int st;
    is_str(webot_job_event_type(WEBOT_JOB_QUEUED, WEBOT_ACT_REVISION),
           "job.revision_requested", "revision event type");
    is_str(webot_job_event_type(WEBOT_JOB_CANCELED, WEBOT_ACT_CANCEL),
           "job.canceled", "cancel event type");
    for (st = 0; st < WEBOT_JOB_NSTATUS; st++) {
        const char *t = webot_job_event_type(st, 0);
        const char *m = webot_job_event_message(t, 0);
        ok(t && !strncmp(t, "job.", 4) && !strcmp(t + 4,
                                                  webot_job_status_name(st))
           && m && strcmp(m, "The job changed."),
           "job.%s has its own message", webot_job_status_name(st));
    }
    ok(strstr(webot_job_event_message("job.canceled", 1), "refunded") != NULL,
       "cancel with refund says so");
    ok(strstr(webot_job_event_message("job.canceled", 0), "refund") == NULL,
       "cancel without refund does not");
    ok(strstr(webot_job_event_message("job.completed", 1), "refund") == NULL,
       "refund sentence only where one applies");
    is_str(webot_job_event_message("job.unknown", 0), "The job changed.",
           "unknown type: a neutral message");
    is_str(webot_job_event_message(NULL, 0), "The job changed.",
           "NULL type: neutral");
}

/* --- rendering -------------------------------------------------------------- */

static void test_render(void)
{
    apr_array_header_t *buf = apr_array_make(P, 1, 1);
    webot_job_t j;
    const char *text;
    json_t *v;
    json_error_t je;

    webot_json_quote(buf, "a\"b\\c\n\t\x01\xc3\xa9");
    is_str(webot_buf_text(buf), "\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9\"",
           "quote escapes quotes, backslashes and controls, keeps UTF-8");
    buf = apr_array_make(P, 1, 1);
    webot_json_minify(buf, "{\"a\": \"x y\", \"b\" :\n [1, 2],\t\"c\": "
                      "\"q\\\" z\"}");
    is_str(webot_buf_text(buf), "{\"a\":\"x y\",\"b\":[1,2],\"c\":\"q\\\" z\"}",
           "minify drops whitespace outside strings only");
    buf = apr_array_make(P, 1, 1);
    {
        int i;
        for (i = 0; i < 1000; i++) {
            webot_buf_puts(buf, "0123456789");
        }
        ok(strlen(webot_buf_text(buf)) == 10000, "buffers grow (10000 bytes)");
    }

    memset(&j, 0, sizeof(j));
    j.id = "job_abc";
    j.status = "ready_for_customer_review";
    j.service_family = "create_polish";
    j.service_option = "tone_rewrites_copy_polish";
    j.title = "Say \"hi\"";
    j.intake_json = "{\"tone\": \"warm\", \"audience\": \"all\"}";
    j.file_ids_json = "[\"file_x\"]";
    j.metadata_json = NULL;
    j.revision_count = 1;
    j.max_revisions = 2;
    j.deliverable_json = "{\"summary\": \"s\", \"text\": \"t\", "
                         "\"files\": []}";
    j.created_at = "2026-03-02T10:15:00Z";
    j.updated_at = "2026-03-02T10:16:00Z";
    text = webot_job_render(P, &j, "/api/v1");
    v = json_loads(text, 0, &je);
    ok(v != NULL, "rendered job is valid JSON");
    if (v) {
        ok(json_object_size(v) == 15, "15 fields");
        is_str(json_string_value(json_object_get(v, "title")), "Say \"hi\"",
               "title escaped");
        is_str(json_string_value(json_object_get(json_object_get(v,
               "intake"), "tone")), "warm", "intake embedded");
        ok(json_is_object(json_object_get(v, "metadata"))
           && json_object_size(json_object_get(v, "metadata")) == 0,
           "missing metadata: {}");
        ok(json_array_size(json_object_get(v, "allowed_actions")) == 3,
           "allowed_actions from status and revisions");
        ok(json_integer_value(json_object_get(v, "revision_count")) == 1,
           "revision_count");
        is_str(json_string_value(json_object_get(json_object_get(v, "links"),
               "events")), "/api/v1/jobs/job_abc/events", "links.events");
        is_str(json_string_value(json_object_get(json_object_get(v,
               "deliverable"), "summary")), "s", "deliverable embedded");
        json_decref(v);
    }
    ok(strchr(text, '\n') == NULL && !strstr(text, "\": "),
       "compact output");
    j.title = NULL;
    j.deliverable_json = NULL;
    j.status = "queued";
    text = webot_job_render(P, &j, "/v");
    ok(strstr(text, "\"title\":null") && strstr(text, "\"deliverable\":null")
       && strstr(text, "\"allowed_actions\":[\"cancel\"]")
       && strstr(text, "\"self\":\"/v/jobs/job_abc\""),
       "nulls, queued actions, another mount");
}

/* --- cursors ------------------------------------------------------------------ */

static void test_cursor(void)
{
    static const unsigned char secret[] =
        "0123456789abcdef0123456789abcdef-test-secret";
    static const unsigned char other[] =
        "0123456789abcdef0123456789abcdef-other-secret";
    apr_size_t sl = sizeof(secret) - 1, ol = sizeof(other) - 1;
    const char *ts = "2026-03-02T10:15:00.123456Z", *id = "job_abc";
    const char *gts = NULL, *gid = NULL;
    char *c, *t;
    size_t i, n;
    int rejected = 0;

    c = webot_cursor_encode(P, secret, sl, "acct_a", "jobs|s=", ts, id);
    ok(c != NULL && strchr(c, '.') != NULL, "encode: payload.mac");
    for (i = 0; c && c[i]; i++) {
        if (!(c[i] == '.' || c[i] == '-' || c[i] == '_'
              || (c[i] >= 'a' && c[i] <= 'z') || (c[i] >= 'A' && c[i] <= 'Z')
              || (c[i] >= '0' && c[i] <= '9'))) {
            break;
        }
    }
    ok(c && !c[i], "base64url characters only (safe in a query)");
    ok(webot_cursor_decode(P, secret, sl, "acct_a", "jobs|s=", c, &gts, &gid)
       == 0, "decode own cursor");
    is_str(gts, ts, "timestamp round-trips");
    is_str(gid, id, "id round-trips");
    ok(webot_cursor_decode(P, secret, sl, "acct_b", "jobs|s=", c, &gts, &gid)
       == -1, "another account: refused");
    ok(webot_cursor_decode(P, secret, sl, "acct_a", "jobs|s=queued", c, &gts,
                           &gid) == -1, "other filters: refused");
    ok(webot_cursor_decode(P, other, ol, "acct_a", "jobs|s=", c, &gts, &gid)
       == -1, "another server secret: refused");
    /* every single-character change is refused */
    n = strlen(c);
    for (i = 0; i < n; i++) {
        t = apr_pstrdup(P, c);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        if (webot_cursor_decode(P, secret, sl, "acct_a", "jobs|s=", t, &gts,
                                &gid) == -1) {
            rejected++;
        }
    }
    ok(rejected == (int)n, "all %d one-character alterations refused "
       "(%d)", (int)n, rejected);
    ok(webot_cursor_decode(P, secret, sl, "acct_a", "jobs|s=",
                           apr_pstrcat(P, c, "A", NULL), &gts, &gid) == -1,
       "appended character: refused");
    ok(webot_cursor_decode(P, secret, sl, "acct_a", "jobs|s=",
                           apr_pstrndup(P, c, n - 1), &gts, &gid) == -1,
       "truncated: refused");
    {
        static const char *const junk[] = { "", ".", "abc", "abc.", ".abc",
            "!!!.???", "a.b.c", "YzF8.AAAA", NULL };
        for (i = 0; junk[i]; i++) {
            ok(webot_cursor_decode(P, secret, sl, "acct_a", "jobs|s=",
                                   junk[i], &gts, &gid) == -1,
               "malformed \"%s\": refused", junk[i]);
        }
    }
    ok(webot_cursor_decode(P, secret, sl, "acct_a", "jobs|s=", NULL, &gts,
                           &gid) == -1, "NULL: refused");
    t = apr_palloc(P, WEBOT_CURSOR_MAX + 2);
    memset(t, 'A', WEBOT_CURSOR_MAX + 1);
    t[WEBOT_CURSOR_MAX + 1] = '\0';
    ok(webot_cursor_decode(P, secret, sl, "acct_a", "jobs|s=", t, &gts, &gid)
       == -1, "over-long: refused");
    /* authentic but not a cursor of ours: the payload is still checked */
    {
        unsigned char mac[WEBOT_SHA256_LEN];
        const char *payload = "c1|yesterday|job_abc";
        const char *msg = apr_psprintf(P, "webot-cursor\n6:acct_a\n7:jobs|s=\n"
                                       "%lu:%s", (unsigned long)strlen(payload),
                                       payload);
        webot_hmac_sha256(secret, sl, msg, strlen(msg), mac);
        t = apr_pstrcat(P, webot_b64url(P, (const unsigned char *)payload,
                                        strlen(payload)), ".",
                        webot_b64url(P, mac, 16), NULL);
        ok(webot_cursor_decode(P, secret, sl, "acct_a", "jobs|s=", t, &gts,
                               &gid) == -1,
           "signed but with a bad timestamp: refused");
    }
    ok(webot_cursor_encode(P, secret, sl, "acct_a", "s", "nope", id) == NULL,
       "encode refuses a bad timestamp");
    ok(webot_cursor_encode(P, secret, sl, "acct_a", "s", ts, "job abc")
       == NULL, "encode refuses a bad id");
    ok(webot_cursor_encode(P, secret, sl, "acct_a", "s", ts, id) != NULL
       && strcmp(webot_cursor_encode(P, secret, sl, "acct_a", "s", ts, id),
                 webot_cursor_encode(P, secret, sl, "acct_a", "s", ts,
                                     "job_abd")),
       "different ids, different cursors");
}

/* --- fingerprints ---------------------------------------------------------------- */

static json_t *J(const char *text)
{
    json_error_t je;
    return webot_json_own(P, json_loads(text, 0, &je));
}

static void test_fingerprint(void)
{
    const char *a = webot_idem_fingerprint_hex(P, "POST", "/jobs",
        J("{\"b\":1,\"a\":{\"y\":\"2\",\"x\":[1,2]}}"));
    const char *b = webot_idem_fingerprint_hex(P, "POST", "/jobs",
        J("{ \"a\" : { \"x\" : [1, 2], \"y\" : \"2\" }, \"b\" : 1 }"));
    ok(a && strlen(a) == 64, "fingerprint: 64 hex characters");
    is_str(a, b, "key order and whitespace do not matter (nested too)");
    ok(strcmp(a, webot_idem_fingerprint_hex(P, "POST", "/jobs",
              J("{\"b\":1,\"a\":{\"y\":\"2\",\"x\":[2,1]}}"))),
       "array order matters");
    ok(strcmp(a, webot_idem_fingerprint_hex(P, "POST", "/jobs",
              J("{\"b\":2,\"a\":{\"y\":\"2\",\"x\":[1,2]}}"))),
       "a changed value differs");
    ok(strcmp(a, webot_idem_fingerprint_hex(P, "POST", "/jobs/job_x/cancel",
              J("{\"b\":1,\"a\":{\"y\":\"2\",\"x\":[1,2]}}"))),
       "another route differs");
    ok(strcmp(a, webot_idem_fingerprint_hex(P, "PUT", "/jobs",
              J("{\"b\":1,\"a\":{\"y\":\"2\",\"x\":[1,2]}}"))),
       "another method differs");
    is_str(webot_idem_fingerprint_hex(P, "POST", "/x", NULL),
           webot_idem_fingerprint_hex(P, "POST", "/x", J("{}")),
           "no body is the same as {}");
    is_str(webot_idem_canonical(P, J("{\"t\":\"\xc3\xa9\",\"a\":null}")),
           "{\"a\":null,\"t\":\"\xc3\xa9\"}", "canonical text");
    ok(strcmp(webot_idem_fingerprint_hex(P, "POST", "/jobs",
              J("{\"t\":\"a\"}")),
              webot_idem_fingerprint_hex(P, "POST", "/jobs",
              J("{\"t\":\"a \"}"))), "whitespace inside strings matters");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&P, NULL);
    test_statuses();
    test_allowed();
    test_moves();
    test_table();
    test_events();
    test_render();
    test_cursor();
    test_fingerprint();
    printf("1..%d\n", ntests);
    if (nfailed) {
        printf("# %d of %d failed\n", nfailed, ntests);
    }
    apr_pool_destroy(P);
    apr_terminate();
    return nfailed ? 1 : 0;
}
