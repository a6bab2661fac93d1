/* mod_webot_jobs.h: schemas, parameters, error lists and handlers of the
 * jobs, events, preflight and usage routes (rows in routes_jobs.inc), and
 * the jobs directives. */
#ifndef MOD_WEBOT_JOBS_H
#define MOD_WEBOT_JOBS_H

/* --- schemas (JSON Schema text) ----------------------------------------- */

#define S_JOB_STATUS_ENUM \
    "{\"type\":\"string\",\"enum\":[\"queued\",\"accepted\",\"running\"," \
    "\"needs_review\",\"ready_for_customer_review\",\"completed\"," \
    "\"rejected\",\"canceled\"]}"

/* components/schemas/Job (mod_webot_routes.c) */
#define S_JOB_OBJECT \
    "{\"type\":\"object\",\"required\":[\"id\",\"status\"," \
    "\"service_family\",\"service_option\",\"title\",\"intake\"," \
    "\"file_ids\",\"metadata\",\"revision_count\",\"max_revisions\"," \
    "\"deliverable\",\"allowed_actions\",\"created_at\",\"updated_at\"," \
    "\"links\"],\"properties\":{" \
    "\"id\":{\"type\":\"string\",\"description\":\"job_...\"}," \
    "\"status\":" S_JOB_STATUS_ENUM "," \
    "\"service_family\":{\"type\":\"string\"}," \
    "\"service_option\":{\"type\":\"string\"}," \
    "\"title\":{\"type\":[\"string\",\"null\"]}," \
    "\"intake\":{\"type\":\"object\",\"additionalProperties\":" \
      "{\"type\":\"string\"}}," \
    "\"file_ids\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}," \
    "\"metadata\":{\"type\":\"object\",\"additionalProperties\":" \
      "{\"type\":\"string\"}}," \
    "\"revision_count\":{\"type\":\"integer\"}," \
    "\"max_revisions\":{\"type\":\"integer\"}," \
    "\"deliverable\":{\"type\":[\"object\",\"null\"],\"description\":" \
      "\"{summary, text, files} once delivered, else null.\"}," \
    "\"allowed_actions\":{\"type\":\"array\",\"description\":\"What the " \
      "customer may do now (POST /jobs/{id}/<action>).\",\"items\":" \
      "{\"type\":\"string\",\"enum\":[\"approve\",\"revision\"," \
      "\"cancel\"]}}," \
    "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}," \
    "\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}," \
    "\"links\":{\"type\":\"object\",\"required\":[\"self\",\"events\"]," \
      "\"properties\":{\"self\":{\"type\":\"string\"}," \
      "\"events\":{\"type\":\"string\"}}}}}"

/* components/schemas/JobEvent */
#define S_JOB_EVENT_OBJECT \
    "{\"type\":\"object\",\"required\":[\"id\",\"seq\",\"type\",\"status\"," \
    "\"message\",\"created_at\"],\"properties\":{" \
    "\"id\":{\"type\":\"string\",\"description\":\"evt_...\"}," \
    "\"seq\":{\"type\":\"integer\",\"description\":\"1, 2, 3, ... per " \
      "job, without gaps.\"}," \
    "\"type\":{\"type\":\"string\",\"description\":\"job.<status>, or " \
      "job.revision_requested.\"}," \
    "\"status\":" S_JOB_STATUS_ENUM "," \
    "\"message\":{\"type\":\"string\"}," \
    "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"

#define S_JOB "{\"$ref\":\"#/components/schemas/Job\"}"

#define S_JOB_LIST \
    "{\"type\":\"object\",\"required\":[\"data\",\"has_more\"," \
    "\"next_cursor\"],\"properties\":{" \
    "\"data\":{\"type\":\"array\",\"items\":" S_JOB "}," \
    "\"has_more\":{\"type\":\"boolean\"}," \
    "\"next_cursor\":{\"type\":[\"string\",\"null\"]}}}"

#define S_JOB_EVENTS \
    "{\"type\":\"object\",\"required\":[\"data\"],\"properties\":{" \
    "\"data\":{\"type\":\"array\",\"items\":" \
      "{\"$ref\":\"#/components/schemas/JobEvent\"}}}}"

#define S_JOB_APPROVE \
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}"

#define S_JOB_CANCEL \
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{" \
    "\"reason\":{\"type\":\"string\",\"maxLength\":1000,\"description\":" \
      "\"Why (kept for staff, optional).\"}}}"

#define S_JOB_REVISION \
    "{\"type\":\"object\",\"additionalProperties\":false," \
    "\"required\":[\"notes\"],\"properties\":{" \
    "\"notes\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4000," \
      "\"description\":\"What to change (1-4000 characters).\"}}}"

#define S_PREFLIGHT \
    "{\"type\":\"object\",\"required\":[\"ready\",\"checks\"," \
    "\"suggested_action\"],\"properties\":{" \
    "\"ready\":{\"type\":\"boolean\",\"description\":\"POST /api/v1/jobs " \
      "with this body would be accepted now.\"}," \
    "\"checks\":{\"type\":\"array\",\"items\":{\"type\":\"object\"," \
      "\"required\":[\"name\",\"ok\"],\"properties\":{" \
      "\"name\":{\"type\":\"string\",\"enum\":[\"authentication\"," \
        "\"entitlement\",\"quota\",\"active_jobs\",\"intent\"]}," \
      "\"ok\":{\"type\":\"boolean\"}," \
      "\"message\":{\"type\":\"string\"}}}}," \
    "\"suggested_action\":{\"type\":\"string\",\"enum\":[\"none\"," \
      "\"wait\",\"revise_request\",\"upgrade_plan\",\"ask_human\"]}}}"

#define S_USAGE \
    "{\"type\":\"object\",\"required\":[\"period\",\"quota\"," \
    "\"active_jobs\",\"rejects\",\"recent_events\",\"daily\"]," \
    "\"properties\":{" \
    "\"period\":{\"type\":\"object\",\"required\":[\"start\",\"end\"]," \
      "\"properties\":{\"start\":{\"type\":[\"string\",\"null\"]," \
      "\"format\":\"date-time\"},\"end\":{\"type\":[\"string\",\"null\"]," \
      "\"format\":\"date-time\"}}}," \
    "\"quota\":{\"type\":\"object\",\"required\":[\"limit\",\"used\"," \
      "\"remaining\"],\"properties\":{\"limit\":{\"type\":\"integer\"}," \
      "\"used\":{\"type\":\"integer\"},\"remaining\":{\"type\":" \
      "\"integer\"}}}," \
    "\"active_jobs\":{\"type\":\"object\",\"required\":[\"count\"," \
      "\"limit\"],\"properties\":{\"count\":{\"type\":\"integer\"}," \
      "\"limit\":{\"type\":\"integer\"}}}," \
    "\"rejects\":{\"type\":\"object\",\"required\":[\"count\"," \
      "\"by_code\"],\"properties\":{\"count\":{\"type\":\"integer\"}," \
      "\"by_code\":{\"type\":\"object\",\"additionalProperties\":" \
      "{\"type\":\"integer\"}}}}," \
    "\"recent_events\":{\"type\":\"array\",\"items\":{\"type\":" \
      "\"object\",\"required\":[\"id\",\"type\",\"job_id\",\"code\"," \
      "\"created_at\"],\"properties\":{\"id\":{\"type\":\"string\"}," \
      "\"type\":{\"type\":\"string\"},\"job_id\":{\"type\":[\"string\"," \
      "\"null\"]},\"code\":{\"type\":[\"string\",\"null\"]}," \
      "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}}," \
    "\"daily\":{\"type\":\"array\",\"items\":{\"type\":\"object\"," \
      "\"required\":[\"date\",\"jobs_created\",\"rejects\"]," \
      "\"properties\":{\"date\":{\"type\":\"string\",\"format\":" \
      "\"date\"},\"jobs_created\":{\"type\":\"integer\"}," \
      "\"rejects\":{\"type\":\"integer\"}}}}}}"

/* --- examples -------------------------------------------------------------- */

#define X_JOB_BODY(status, actions, revs) \
    "{\"id\":\"job_k3v7q2m4x5n6p7r8s9t2u3v4w5\",\"status\":\"" status "\"," \
    "\"service_family\":\"create_polish\",\"service_option\":" \
    "\"tone_rewrites_copy_polish\",\"title\":\"Spring launch email\"," \
    "\"intake\":{\"audience\":\"Existing customers, spring sale\"," \
    "\"brand_constraints\":\"No exclamation marks\",\"tone\":\"Warm, " \
    "confident\",\"delivery_format\":\"Plain text email\"},\"file_ids\":[]," \
    "\"metadata\":{\"crm_id\":\"123\"},\"revision_count\":" revs "," \
    "\"max_revisions\":5,\"deliverable\":null,\"allowed_actions\":" actions \
    ",\"created_at\":\"2026-03-02T10:15:00Z\",\"updated_at\":" \
    "\"2026-03-02T10:15:00Z\",\"links\":{\"self\":\"/api/v1/jobs/" \
    "job_k3v7q2m4x5n6p7r8s9t2u3v4w5\",\"events\":\"/api/v1/jobs/" \
    "job_k3v7q2m4x5n6p7r8s9t2u3v4w5/events\"}}"

#define X_JOB X_JOB_BODY("queued", "[\"cancel\"]", "0")
#define X_JOB_LIST "{\"data\":[" X_JOB "],\"has_more\":true," \
    "\"next_cursor\":\"YzF8MjAyNi0wMy0wMlQxMDoxNTowMC4xMjM0NTZafGpvYl9r." \
    "3kq1mN0xVx8w1Yt4aB2cDg\"}"
#define X_JOB_EVENTS \
    "{\"data\":[{\"id\":\"evt_a2b3c4d5e6f7g2h3i4j5k6l7m2\",\"seq\":1," \
    "\"type\":\"job.queued\",\"status\":\"queued\",\"message\":\"The job " \
    "was received and is waiting to be picked up.\",\"created_at\":" \
    "\"2026-03-02T10:15:00Z\"},{\"id\":\"evt_b2c3d4e5f6g7h2i3j4k5l6m7n2\"," \
    "\"seq\":2,\"type\":\"job.accepted\",\"status\":\"accepted\"," \
    "\"message\":\"The job was accepted and is being prepared.\"," \
    "\"created_at\":\"2026-03-02T10:15:01Z\"}]}"
#define X_PREFLIGHT \
    "{\"ready\":false,\"checks\":[{\"name\":\"authentication\",\"ok\":true," \
    "\"method\":\"api_key\"},{\"name\":\"entitlement\",\"ok\":true," \
    "\"status\":\"active\",\"plan\":\"agent_pro\"},{\"name\":\"quota\"," \
    "\"ok\":true,\"limit\":200,\"used\":12,\"remaining\":188},{\"name\":" \
    "\"active_jobs\",\"ok\":true,\"count\":2,\"limit\":10},{\"name\":" \
    "\"intent\",\"ok\":false,\"service_option\":" \
    "\"tone_rewrites_copy_polish\",\"missing_requirements\":[{\"id\":" \
    "\"tone\",\"label\":\"tone and voice\"}],\"problems\":[]}]," \
    "\"suggested_action\":\"revise_request\"}"
#define X_USAGE \
    "{\"period\":{\"start\":\"2026-03-01T00:00:00Z\",\"end\":" \
    "\"2026-04-01T00:00:00Z\"},\"quota\":{\"limit\":200,\"used\":12," \
    "\"remaining\":188},\"active_jobs\":{\"count\":2,\"limit\":10}," \
    "\"rejects\":{\"count\":1,\"by_code\":{\"ACTIVE_JOB_LIMIT\":1}}," \
    "\"recent_events\":[{\"id\":\"ue_c2d3e4f5g6h7i2j3k4l5m6n7o2\",\"type\":" \
    "\"job.created\",\"job_id\":\"job_k3v7q2m4x5n6p7r8s9t2u3v4w5\"," \
    "\"code\":null,\"created_at\":\"2026-03-02T10:15:00Z\"}],\"daily\":[" \
    "{\"date\":\"2026-03-02\",\"jobs_created\":12,\"rejects\":1}]}"

/* --- parameters ------------------------------------------------------------- */

static const webot_param_t P_JOB_LIST[] = {
    { "status", "query", "{\"type\":\"string\"}",
      "Comma list of statuses (queued, accepted, running, needs_review, "
      "ready_for_customer_review, completed, rejected, canceled); an "
      "unknown one is 400." },
    { "service_option", "query", "{\"type\":\"string\",\"maxLength\":64}",
      "Only jobs of this service option (an id from GET /api/v1/catalog)." },
    { "created_after", "query",
      "{\"type\":\"string\",\"format\":\"date-time\"}",
      "Only jobs created strictly after this RFC 3339 time." },
    { "created_before", "query",
      "{\"type\":\"string\",\"format\":\"date-time\"}",
      "Only jobs created strictly before this RFC 3339 time." },
    { "limit", "query", "{\"type\":\"integer\",\"minimum\":1,"
      "\"maximum\":100,\"default\":20}", "Page size (1-100, default 20)." },
    { "cursor", "query", "{\"type\":\"string\",\"maxLength\":512}",
      "next_cursor of the previous page (opaque; valid only with the same "
      "filters and credentials' account)." },
    { NULL, NULL, NULL, NULL }
};

static const webot_param_t P_JOB_EVENTS[] = {
    { "after", "query", "{\"type\":\"integer\",\"minimum\":0}",
      "Only events with seq greater than this (default 0: all)." },
    { "Accept", "header", "{\"type\":\"string\"}",
      "text/event-stream for a Server-Sent Events stream (id = seq, event "
      "= type, data = the event as JSON; `: keep-alive` every 15 s; the "
      "stream ends after a terminal event); anything else answers JSON." },
    { "Last-Event-ID", "header", "{\"type\":\"string\"}",
      "Stream only: resume after this seq (what EventSource sends on "
      "reconnect); wins over ?after." },
    { NULL, NULL, NULL, NULL }
};

/* --- error lists --------------------------------------------------------------- */

static const char *const E_JOB_CREATE[] = { "BAD_REQUEST",
    "IDEMPOTENCY_KEY_REQUIRED", "UNAUTHORIZED", "QUOTA_EXCEEDED",
    "ENTITLEMENT_REQUIRED", "FORBIDDEN", "CSRF_FAILED",
    "IDEMPOTENCY_IN_PROGRESS", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE",
    "VALIDATION_ERROR", "IDEMPOTENCY_CONFLICT", "INTAKE_INCOMPLETE",
    "RATE_LIMITED", "ACTIVE_JOB_LIMIT", "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR", NULL };
static const char *const E_JOB_LIST[] = { "BAD_REQUEST", "UNAUTHORIZED",
    "ENTITLEMENT_REQUIRED", "FORBIDDEN", "RATE_LIMITED",
    "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_JOB_GET[] = { "UNAUTHORIZED",
    "ENTITLEMENT_REQUIRED", "FORBIDDEN", "NOT_FOUND", "RATE_LIMITED",
    "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_JOB_EVENTS[] = { "BAD_REQUEST", "UNAUTHORIZED",
    "ENTITLEMENT_REQUIRED", "FORBIDDEN", "NOT_FOUND", "RATE_LIMITED",
    "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_JOB_ACTION[] = { "BAD_REQUEST",
    "IDEMPOTENCY_KEY_REQUIRED", "UNAUTHORIZED", "ENTITLEMENT_REQUIRED",
    "FORBIDDEN", "CSRF_FAILED", "NOT_FOUND", "IDEMPOTENCY_IN_PROGRESS",
    "INVALID_STATE", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE",
    "VALIDATION_ERROR", "IDEMPOTENCY_CONFLICT", "RATE_LIMITED",
    "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };
static const char *const E_PREFLIGHT[] = { "BAD_REQUEST", "UNAUTHORIZED",
    "FORBIDDEN", "CSRF_FAILED", "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE", "RATE_LIMITED", "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR", NULL };
static const char *const E_USAGE[] = { "UNAUTHORIZED", "FORBIDDEN",
    "RATE_LIMITED", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", NULL };

/* --- directives (mod_webot.c's table) ------------------------------------------ */

const char *webot_jobs_set_stream_limit(cmd_parms *cmd, void *d,
                                        const char *arg);

#define WEBOT_JOBS_CMDS \
    AP_INIT_TAKE1("WebotEventStreamsPerAccount", \
                  webot_jobs_set_stream_limit, NULL, RSRC_CONF, \
                  "open event streams one account may hold (default 5)")

/* --- handlers --------------------------------------------------------------------- */

int webot_h_jobs_list(webot_req_t *wr);
int webot_h_job_create(webot_req_t *wr);
int webot_h_job_get(webot_req_t *wr);
int webot_h_job_events(webot_req_t *wr);
int webot_h_job_approve(webot_req_t *wr);
int webot_h_job_cancel(webot_req_t *wr);
int webot_h_job_revision(webot_req_t *wr);
int webot_h_job_preflight(webot_req_t *wr);
int webot_h_usage(webot_req_t *wr);

/* mod_webot_sse.c: GET /jobs/{id}/events as text/event-stream (the
 * gate has passed; after is the seq to resume after). */
int webot_jobs_stream(webot_req_t *wr, int after);
/* Whether the request asks for a stream (Accept: text/event-stream). */
int webot_jobs_wants_stream(request_rec *r);

#endif
