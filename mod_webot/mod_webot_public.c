/* mod_webot_public.c: the public routes (no credential). */
#include "mod_webot.h"
#include "mod_webot_public.h"
#include "mod_webot_worker.h"
#include "mod_webot_billing.h"
#include "webot_jobcheck.h"

#include <apr_strings.h>

int webot_h_openapi(webot_req_t *wr)
{
    apr_size_t len;
    const char *etag;
    const char *doc = webot_openapi_json(&len, &etag);
    return webot_send_bytes(wr, HTTP_OK, "application/json", doc, len, etag);
}

int webot_h_catalog(webot_req_t *wr)
{
    const webot_catalog_t *c = wr->sc->catalog;
    return webot_send_bytes(wr, HTTP_OK, "application/json", c->catalog_json,
                            c->catalog_json_len, c->catalog_etag);
}

/* Whether a plan's Stripe price was verified for this deployment (the
 * billing thread's result in stripe_prices; mod_webot_billing.c). */
static int plan_verified(webot_req_t *wr, const webot_plan_t *pl)
{
    return webot_billing_plan_available(wr, pl);
}

int webot_h_plans(webot_req_t *wr)
{
    const webot_catalog_t *c = wr->sc->catalog;
    json_t *plans = json_array(), *body;
    const char *text;
    unsigned char sum[WEBOT_SHA256_LEN];
    int i;

    for (i = 0; i < c->plans->nelts; i++) {
        const webot_plan_t *pl = APR_ARRAY_IDX(c->plans, i, webot_plan_t *);
        json_t *o = json_pack("{s:s,s:s,s:o,s:{s:i,s:i,s:i,s:i,s:I},"
                              "s:{s:I,s:s,s:s},s:b}",
            "id", pl->id, "name", pl->name,
            "access", webot_access_json(pl->access),
            "limits", "monthly_jobs", pl->monthly_jobs,
            "max_active_jobs", pl->max_active_jobs,
            "max_revisions", pl->max_revisions,
            "rate_limit_per_minute", pl->rate_limit_per_minute,
            "max_upload_bytes", (json_int_t)pl->max_upload_bytes,
            "price", "amount", (json_int_t)pl->price_amount,
            "currency", pl->currency, "interval", pl->interval,
            "checkout_available", plan_verified(wr, pl));
        if (pl->description) {
            json_object_set_new(o, "description",
                                json_string(pl->description));
        }
        json_array_append_new(plans, o);
    }
    body = webot_json_own(wr->p, json_pack("{s:o}", "plans", plans));
    text = webot_json_dump(wr->p, body);
    webot_sha256(text, strlen(text), sum);
    return webot_send_bytes(wr, HTTP_OK, "application/json", text,
                            strlen(text), apr_pstrcat(wr->p, "\"",
                            webot_hex(wr->p, sum, 16), "\"", NULL));
}

int webot_h_intent_check(webot_req_t *wr)
{
    webot_jobcheck_t *jc = webot_jobcheck(wr->p, wr->sc->catalog,
        webot_route_request_schema(wr->route), wr->body);
    int ok = !jc->nproblems && !json_array_size(jc->missing);
    json_t *body = json_pack("{s:b,s:s?,s:s?,s:O,s:O,s:s}",
        "ok", ok,
        "service_family", jc->option ? jc->option->family->id : NULL,
        "service_option", jc->option ? jc->option->id : NULL,
        "missing_requirements", jc->missing,
        "problems", jc->problems->details,
        "suggested_action", ok ? "none" : "revise_request");
    return webot_send_json(wr, HTTP_OK, webot_json_own(wr->p, body));
}

int webot_h_health(webot_req_t *wr)
{
    webot_error_t *err = NULL;
    webot_db_t *db = webot_req_db(wr, &err);
    const char *version = NULL;
    webot_dbrc_e rc = db ? webot_store_ping(db, wr->p, &version)
                         : WEBOT_DB_DOWN;
    json_t *body;
    int status = HTTP_OK;
    const char *worker = "off";

    if (rc == WEBOT_DB_DOWN && db && !wr->attempt) {
        return WEBOT_AGAIN;     /* a stale pooled connection: once more */
    }
    if (rc == WEBOT_DB_OK) {    /* off | ok | stale (heartbeat too old) */
        webot_dbrc_e wrc;
        worker = webot_worker_health(wr->r->server, db, wr->p, &wrc);
        worker = worker ? worker : "stale";
    }
    if (rc != WEBOT_DB_OK) {
        /* Every non-2xx answer carries the contract's error body; the
         * component states travel in details. */
        webot_error_t *e = webot_error_make(wr->p, "SERVICE_UNAVAILABLE",
            "The database is unreachable; retry in a few seconds.");
        json_array_append_new(e->details, json_pack("{s:s,s:s}",
            "component", "database", "status", "unavailable"));
        json_array_append_new(e->details, json_pack("{s:s,s:s}",
            "component", "stripe_catalog", "status",
            webot_billing_catalog_state(wr)));
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, wr->r, APLOGNO(30020)
                      "health: database unavailable (request_id %s)",
                      wr->request_id);
        return webot_send_error(wr, e);
    }
    body = json_pack("{s:s,s:s,s:s?,s:s,s:s}",
        "status", status == HTTP_OK && strcmp(worker, "stale")
                  ? "ok" : "degraded",
        "database", status == HTTP_OK ? "ok" : "unavailable",
        "schema_version", version,
        "worker", worker,
        "stripe_catalog", webot_billing_catalog_state(wr));
    return webot_send_json(wr, status, webot_json_own(wr->p, body));
}
