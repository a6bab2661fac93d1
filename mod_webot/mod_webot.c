/* mod_webot.c: module record, directives, hooks and the dispatcher. */
#define WEBOT_MODULE_RECORD_FILE
#include "mod_webot.h"
#include "mod_webot_files.h"
#include "mod_webot_billing.h"
#include "mod_webot_worker.h"
#include "mod_webot_jobs.h"

#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_lib.h>

#include <ap_config.h>
#include <http_core.h>

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close_fn;

/* mod_dbd's ap_dbd_open waits forever once DBDMax connections are checked
 * out. Request threads pass this per-process gate first: at most
 * WebotDBMaxConnections at once, waiting at most WebotDBAcquireTimeout,
 * then 503 SERVICE_UNAVAILABLE. Keep WebotDBMaxConnections <= DBDMax. */
#define DBGATE_DEFAULT_MAX 10
#define DBGATE_DEFAULT_TIMEOUT 5
static struct {
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *cv;
    int in_use;
    int max;
    int waiting;
    apr_interval_time_t timeout;
    webot_req_t *held;              /* contexts holding a connection */
} dbgate;
static void unhold(webot_req_t *wr);
static int dbgate_max = WEBOT_UNSET;
static int dbgate_timeout = WEBOT_UNSET;
/* WebotDBStatementTimeout: PostgreSQL's statement_timeout on the pooled
 * connections requests use, so that a statement stuck on a lock answers
 * 503 instead of holding its thread (0 = none) */
#define DB_STATEMENT_TIMEOUT_DEFAULT 30
static int db_statement_timeout = WEBOT_UNSET;

/* --- configuration -------------------------------------------------- */

static void *create_srv_cfg(apr_pool_t *p, server_rec *s)
{
    webot_srv_cfg *c = apr_pcalloc(p, sizeof(*c));
    (void)s;
    c->max_body = WEBOT_UNSET;
    return c;
}

static void *merge_srv_cfg(apr_pool_t *p, void *basev, void *addv)
{
    webot_srv_cfg *base = basev, *add = addv;
    webot_srv_cfg *c = apr_pcalloc(p, sizeof(*c));
    c->catalog_file = add->catalog_file ? add->catalog_file
                                        : base->catalog_file;
    c->catalog = add->catalog ? add->catalog : base->catalog;
    c->secret_file = add->secret_file ? add->secret_file : base->secret_file;
    c->secret = add->secret ? add->secret : base->secret;
    c->secret_len = add->secret ? add->secret_len : base->secret_len;
    c->max_body = add->max_body != WEBOT_UNSET ? add->max_body
                                               : base->max_body;
    return c;
}

static void *create_dir_cfg(apr_pool_t *p, char *dir)
{
    webot_dir_cfg *c = apr_pcalloc(p, sizeof(*c));
    if (dir) {
        apr_size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') {
            n--;
        }
        c->location = apr_pstrmemdup(p, dir, n);
    }
    return c;
}

static void *merge_dir_cfg(apr_pool_t *p, void *basev, void *addv)
{
    webot_dir_cfg *base = basev, *add = addv;
    webot_dir_cfg *c = apr_pcalloc(p, sizeof(*c));
    c->location = add->location ? add->location : base->location;
    return c;
}

static const char *set_catalog(cmd_parms *cmd, void *d, const char *arg)
{
    webot_srv_cfg *c = ap_get_module_config(cmd->server->module_config,
                                            &webot_module);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    const char *err;
    (void)d;
    if (!path) {
        return apr_pstrcat(cmd->pool, "WebotCatalogFile: invalid path ",
                           arg, NULL);
    }
    if ((err = webot_catalog_load(cmd->pool, path, &c->catalog))) {
        return apr_pstrcat(cmd->pool, "WebotCatalogFile: ", err, NULL);
    }
    c->catalog_file = path;
    return NULL;
}

/* Reads a secret file; trailing whitespace is not part of the secret. The
 * file is read while httpd still runs as root, so it may be root-only. */
const char *webot_read_secret_file(apr_pool_t *p, const char *directive,
                                   const char *path,
                                   const unsigned char **out,
                                   apr_size_t *outlen, apr_size_t minlen)
{
    char *buf = NULL;
    apr_size_t len;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;

    if ((rv = apr_file_open(&f, path, APR_READ, 0, p)) != APR_SUCCESS) {
        return apr_psprintf(p, "%s: cannot open %s: %pm", directive, path,
                            &rv);
    }
    if ((rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f)) != APR_SUCCESS
        || fi.size > 65536) {
        apr_file_close(f);
        return apr_psprintf(p, "%s: %s is not a small regular file",
                            directive, path);
    }
    len = (apr_size_t)fi.size;
    buf = apr_palloc(p, len + 1);
    if (len && (rv = apr_file_read_full(f, buf, len, &len)) != APR_SUCCESS) {
        apr_file_close(f);
        return apr_psprintf(p, "%s: cannot read %s: %pm", directive, path,
                            &rv);
    }
    apr_file_close(f);
    while (len && apr_isspace(buf[len - 1])) {
        len--;
    }
    buf[len] = '\0';
    if (len < minlen) {
        return apr_psprintf(p, "%s: the secret in %s must be at least %lu "
                            "bytes", directive, path, (unsigned long)minlen);
    }
    *out = (const unsigned char *)buf;
    *outlen = len;
    return NULL;
}

static const char *set_secret(cmd_parms *cmd, void *d, const char *arg)
{
    webot_srv_cfg *c = ap_get_module_config(cmd->server->module_config,
                                            &webot_module);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    (void)d;
    if (!path) {
        return apr_pstrcat(cmd->pool, "WebotSecretFile: invalid path ",
                           arg, NULL);
    }
    c->secret_file = path;
    return webot_read_secret_file(cmd->pool, "WebotSecretFile", path,
                                  &c->secret, &c->secret_len, 32);
}

/* A bounded integer directive value, with the problem named. */
const char *webot_parse_directive_int(apr_pool_t *p, const char *directive,
                                      const char *arg, long long min,
                                      long long max, long long *out)
{
    if (webot_parse_int(arg, min, max, out)) {
        return apr_psprintf(p, "%s: \"%s\" is not an integer from %"
                            APR_INT64_T_FMT " to %" APR_INT64_T_FMT,
                            directive, arg, (apr_int64_t)min,
                            (apr_int64_t)max);
    }
    return NULL;
}

static const char *set_max_body(cmd_parms *cmd, void *d, const char *arg)
{
    webot_srv_cfg *c = ap_get_module_config(cmd->server->module_config,
                                            &webot_module);
    long long v;
    const char *err = webot_parse_directive_int(cmd->pool,
        "WebotMaxBodyBytes", arg, 1024, 16 * 1024 * 1024, &v);
    (void)d;
    if (!err) {
        c->max_body = (apr_off_t)v;
    }
    return err;
}

/* The process-wide whole-number directives (server config, global only):
 * the variable each sets and its range. */
typedef struct {
    int *var;
    long long min, max;
} global_int_t;
static const global_int_t gi_db_max = { &dbgate_max, 1, 10000 };
static const global_int_t gi_db_timeout = { &dbgate_timeout, 1, 300 };
static const global_int_t gi_db_statement_timeout = {
    &db_statement_timeout, 0, 3600 };

static const char *set_global_int(cmd_parms *cmd, void *d, const char *arg)
{
    const global_int_t *g = cmd->info;
    long long v;
    const char *err = webot_parse_directive_int(cmd->pool, cmd->cmd->name,
                                                arg, g->min, g->max, &v);
    (void)d;
    if (!err) {
        *g->var = (int)v;
    }
    return err ? err : ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

static const command_rec webot_cmds[] = {
    AP_INIT_TAKE1("WebotDBMaxConnections", set_global_int,
                  (void *)&gi_db_max, RSRC_CONF,
                  "database connections request threads of one process "
                  "may hold at once (keep <= DBDMax; default 10)"),
    AP_INIT_TAKE1("WebotDBAcquireTimeout", set_global_int,
                  (void *)&gi_db_timeout, RSRC_CONF,
                  "seconds a request waits for a database connection "
                  "before 503 (default 5)"),
    AP_INIT_TAKE1("WebotDBStatementTimeout", set_global_int,
                  (void *)&gi_db_statement_timeout, RSRC_CONF, "seconds one SQL statement of a request may "
                  "run before it is canceled and the request answers 503 "
                  "(PostgreSQL's statement_timeout; default 30, 0 = none)"),
    AP_INIT_TAKE1("WebotCatalogFile", set_catalog, NULL, RSRC_CONF,
                  "the JSON file of service families and plans"),
    AP_INIT_TAKE1("WebotSecretFile", set_secret, NULL, RSRC_CONF,
                  "file holding the server secret (at least 32 bytes)"),
    AP_INIT_TAKE1("WebotMaxBodyBytes", set_max_body, NULL, RSRC_CONF,
                  "largest JSON request body in bytes (default 65536)"),
    WEBOT_AUTH_CMDS,
    WEBOT_FILES_CMDS,
    WEBOT_BILLING_CMDS,
    WEBOT_WORKER_CMDS,
    WEBOT_JOBS_CMDS,
    { NULL }
};

/* --- hooks ---------------------------------------------------------- */

/* Where the handlers are mounted. httpd makes our per-directory config
 * only for sections that hold one of our directives, and SetHandler is
 * core's, so the <Location> of `SetHandler webot-api` is read from the
 * configuration tree once per configuration read. <LocationMatch> mounts
 * are not supported (docs/configuration.md). */
typedef struct mount_loc_t {
    const char *location;       /* no trailing slash ("/" stays "/") */
    apr_size_t len;
    int mount;
} mount_loc_t;
static apr_array_header_t *mount_locs;

static int mount_of(const char *handler);

static void collect_mounts(apr_pool_t *p, const ap_directive_t *node,
                           const char *loc)
{
    for (; node; node = node->next) {
        const char *here = loc;
        if (!strcasecmp(node->directive, "<Location") && node->args) {
            char *args = apr_pstrdup(p, node->args);
            const char *word;
            apr_size_t n = strlen(args);
            if (n && args[n - 1] == '>') {
                args[n - 1] = '\0';
            }
            word = ap_getword_conf(p, (const char **)&args);
            here = NULL;
            if (word[0] == '/') {
                n = strlen(word);
                while (n > 1 && word[n - 1] == '/') {
                    n--;
                }
                here = apr_pstrmemdup(p, word, n);
            }
        }
        else if (!strcasecmp(node->directive, "SetHandler") && loc
                 && node->args) {
            const char *args = node->args;
            int mount = mount_of(ap_getword_conf(p, &args));
            if (mount >= 0) {
                mount_loc_t *m = apr_array_push(mount_locs);
                m->location = loc;
                m->len = strlen(loc);
                m->mount = mount;
            }
        }
        if (node->first_child) {
            collect_mounts(p, node->first_child, here);
        }
    }
}

static int webot_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    server_rec *v;
    (void)plog;
    (void)ptemp;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (webot_routes_init(pconf, s) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    mount_locs = apr_array_make(pconf, 4, sizeof(mount_loc_t));
    collect_mounts(pconf, ap_conftree, NULL);
    for (v = s; v; v = v->next) {
        webot_srv_cfg *c = ap_get_module_config(v->module_config,
                                                &webot_module);
        if (c->catalog && !c->secret) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, v, APLOGNO(30001)
                         "WebotCatalogFile is set but WebotSecretFile is "
                         "not: the server secret is required");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* Process-wide directive values start over at every configuration read. */
static int webot_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    dbgate_max = WEBOT_UNSET;
    dbgate_timeout = WEBOT_UNSET;
    db_statement_timeout = WEBOT_UNSET;
    return OK;
}

/* Child exit (a pre-cleanup of the child pool, which runs after the MPM
 * has joined every request thread): a connection still checked out would
 * make mod_dbd's pool abort the process (apr_reslist asserts that all are
 * back). Requests normally give theirs back when their handler ends; one
 * whose pool was never destroyed (a connection abandoned by an ungraceful
 * stop) cannot run again, so its connection is given back here. */
static apr_status_t dbgate_exit_check(void *data)
{
    server_rec *s = data;

    if (!dbgate.mu) {
        return APR_SUCCESS;
    }
    apr_thread_mutex_lock(dbgate.mu);
    while (dbgate.held) {
        webot_req_t *wr = dbgate.held;
        unhold(wr);
        dbgate.in_use--;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, wr->r->server,
                     APLOGNO(30006) "child exit: giving back the database "
                     "connection of %s %s (request_id %s), never released",
                     wr->r->method, wr->route ? wr->route->path : "?",
                     wr->request_id);
        if (dbd_close_fn && wr->dbd) {
            dbd_close_fn(wr->r->server, wr->dbd);
        }
        wr->dbd = NULL;
        wr->db = NULL;
    }
    if (dbgate.in_use) {
        /* a connection given back twice (or lost): a bug, and a dangerous
         * one, since mod_dbd could hand one connection to two threads */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30007)
                     "child exit: the database connection count is off by "
                     "%d", dbgate.in_use);
    }
    apr_thread_mutex_unlock(dbgate.mu);
    return APR_SUCCESS;
}

static void webot_child_init_dbgate(apr_pool_t *p, server_rec *s)
{
    dbgate.max = dbgate_max > 0 ? dbgate_max : DBGATE_DEFAULT_MAX;
    dbgate.timeout = apr_time_from_sec(dbgate_timeout > 0
                                       ? dbgate_timeout
                                       : DBGATE_DEFAULT_TIMEOUT);
    if (apr_thread_mutex_create(&dbgate.mu, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS
        || apr_thread_cond_create(&dbgate.cv, p) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30004)
                     "cannot create the database connection gate; requests "
                     "will wait on mod_dbd without a time limit");
        dbgate.mu = NULL;
    }
    apr_pool_pre_cleanup_register(p, s, dbgate_exit_check);
}

/* Returns 1 when the caller may check out a connection. */
static int dbgate_enter(void)
{
    apr_time_t deadline;
    int ok = 1;

    if (!dbgate.mu) {
        return 1;
    }
    apr_thread_mutex_lock(dbgate.mu);
    /* A newcomer does not pass threads that already wait: a freed slot
     * goes to a waiter (no barging, which made latency tails long). */
    if (dbgate.in_use < dbgate.max && !dbgate.waiting) {
        dbgate.in_use++;
        apr_thread_mutex_unlock(dbgate.mu);
        return 1;
    }
    deadline = apr_time_now() + dbgate.timeout;
    dbgate.waiting++;
    while (dbgate.in_use >= dbgate.max) {
        apr_interval_time_t left = deadline - apr_time_now();
        if (left <= 0) {
            ok = 0;
            break;
        }
        apr_thread_cond_timedwait(dbgate.cv, dbgate.mu, left);
    }
    dbgate.waiting--;
    if (ok) {
        dbgate.in_use++;
    }
    else if (dbgate.waiting && dbgate.in_use < dbgate.max) {
        apr_thread_cond_signal(dbgate.cv);  /* pass on a slot we saw free */
    }
    apr_thread_mutex_unlock(dbgate.mu);
    return ok;
}

static void dbgate_hold(webot_req_t *wr)
{
    if (!dbgate.mu) {
        return;
    }
    apr_thread_mutex_lock(dbgate.mu);
    wr->held_prev = NULL;
    wr->held_next = dbgate.held;
    if (dbgate.held) {
        dbgate.held->held_prev = wr;
    }
    dbgate.held = wr;
    apr_thread_mutex_unlock(dbgate.mu);
}

static void unhold(webot_req_t *wr)
{
    if (wr->held_prev) {
        wr->held_prev->held_next = wr->held_next;
    }
    else if (dbgate.held == wr) {
        dbgate.held = wr->held_next;
    }
    if (wr->held_next) {
        wr->held_next->held_prev = wr->held_prev;
    }
    wr->held_prev = wr->held_next = NULL;
}

static void dbgate_leave(webot_req_t *wr)
{
    if (!dbgate.mu) {
        return;
    }
    apr_thread_mutex_lock(dbgate.mu);
    unhold(wr);
    dbgate.in_use--;
    if (dbgate.waiting) {
        apr_thread_cond_signal(dbgate.cv);
    }
    apr_thread_mutex_unlock(dbgate.mu);
}

static void webot_optional_fns(void)
{
    dbd_open_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
}

/* --- database connection per request ------------------------------- */

static apr_status_t release_dbd(void *data)
{
    webot_req_t *wr = data;
    if (wr->dbd && dbd_close_fn) {
        if (wr->db && wr->db->in_tx) {
            webot_db_rollback(wr->db, wr->p);
        }
        dbd_close_fn(wr->r->server, wr->dbd);
        dbgate_leave(wr);
    }
    wr->dbd = NULL;
    wr->db = NULL;
    return APR_SUCCESS;
}

webot_db_t *webot_req_db(webot_req_t *wr, webot_error_t **err)
{
    ap_dbd_t *dbd;
    webot_db_t *db;

    if (wr->db) {
        return wr->db;
    }
    if (!dbd_open_fn) {
        *err = webot_db_error(wr->p, WEBOT_DB_DOWN);
        return NULL;
    }
    if (!dbgate_enter()) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, wr->r, APLOGNO(30005)
                      "no database connection free within %d s "
                      "(WebotDBMaxConnections %d); answering 503 "
                      "(request_id %s)",
                      (int)apr_time_sec(dbgate.timeout), dbgate.max,
                      wr->request_id);
        *err = webot_db_error(wr->p, WEBOT_DB_DOWN);
        return NULL;
    }
    if (!(dbd = dbd_open_fn(wr->p, wr->r->server))) {
        dbgate_leave(wr);
        *err = webot_db_error(wr->p, WEBOT_DB_DOWN);
        return NULL;
    }
    db = apr_pcalloc(wr->p, sizeof(*db));
    db->driver = dbd->driver;
    db->handle = dbd->handle;
    db->conn_pool = dbd->pool;
    db->cache = dbd->prepared;
    wr->dbd = dbd;
    wr->db = db;
    dbgate_hold(wr);
    webot_db_set_timeout(db, wr->p, (db_statement_timeout == WEBOT_UNSET
                                     ? DB_STATEMENT_TIMEOUT_DEFAULT
                                     : db_statement_timeout) * 1000);
    apr_pool_cleanup_register(wr->p, wr, release_dbd, apr_pool_cleanup_null);
    return db;
}

void webot_req_db_release(webot_req_t *wr)
{
    apr_pool_cleanup_run(wr->p, wr, release_dbd);
}

/* --- the dispatcher ------------------------------------------------- */

static int mount_of(const char *handler)
{
    int i;
    if (!handler) {
        return -1;
    }
    for (i = 0; i < WEBOT_MOUNT_COUNT; i++) {
        if (!strcmp(handler, webot_mount_handler[i])) {
            return i;
        }
    }
    return -1;
}

static const char *request_id_of(request_rec *r)
{
    const char *v = apr_table_get(r->headers_in, "X-Request-Id");
    if (v && webot_request_id_valid(v)) {
        return v;
    }
    v = webot_id_new(r->pool, "req_");
    return v ? v : "req_unavailable";
}

/* The path below loc, or NULL when uri is not at or below loc. */
static const char *below(const char *uri, const char *loc)
{
    apr_size_t n = strlen(loc);
    if (n == 1 && loc[0] == '/') {
        return uri;
    }
    if (strncmp(uri, loc, n) || (uri[n] && uri[n] != '/')) {
        return NULL;
    }
    return uri[n] ? uri + n : "/";
}

/* The request path relative to the <Location> the handler is mounted at:
 * the longest location recorded for this handler that holds the URI (see
 * collect_mounts), else the location of a webot directive's section, else
 * the default mount point. */
static const char *relative_path(request_rec *r, webot_mount_e mount)
{
    webot_dir_cfg *dc;
    const mount_loc_t *best = NULL;
    int i;

    for (i = 0; mount_locs && i < mount_locs->nelts; i++) {
        const mount_loc_t *m = &APR_ARRAY_IDX(mount_locs, i, mount_loc_t);
        if (m->mount == (int)mount && below(r->uri, m->location)
            && (!best || m->len > best->len)) {
            best = m;
        }
    }
    if (best) {
        return below(r->uri, best->location);
    }
    dc = ap_get_module_config(r->per_dir_config, &webot_module);
    return below(r->uri, dc && dc->location ? dc->location
                                            : webot_mount_default[mount]);
}

static int run_route(webot_req_t *wr)
{
    const webot_route_t *rt = wr->route;
    webot_error_t *e;
    int rc;

    /* Who is calling comes first: an anonymous or refused caller learns
     * that (401/403/429), not what is wrong with a body it may not send.
     * Signed-URL routes (upload) and Stripe routes verify their signature in
     * the handler. A refusal is sent with webot_send_error, which returns
     * OK: wr->sent tells that the request is answered. */
    if (rt->auth != WEBOT_AUTH_PUBLIC && rt->auth != WEBOT_AUTH_UPLOAD
        && rt->auth != WEBOT_AUTH_STRIPE) {
        if ((rc = webot_access_check(wr)) != OK || wr->sent) {
            return rc;
        }
    }
    /* The body is read and checked once; the retry after a lost database
     * connection reuses it. */
    if (rt->method[0] == 'P' && !(rt->flags & WEBOT_RF_RAW_BODY)
        && !wr->raw_body) {
        const json_t *schema = webot_route_request_schema(rt);
        if ((e = webot_read_json_body(wr))) {
            return webot_send_error(wr, e);
        }
        if ((e = webot_body_object_error(wr))) {
            return webot_send_error(wr, e);
        }
        if (schema && !(rt->flags & WEBOT_RF_SELF_VALIDATE)) {
            e = webot_error_make(wr->p, "VALIDATION_ERROR",
                                 "The request body is not valid.");
            if (webot_schema_validate(wr->p, schema, wr->body, "", e)) {
                return webot_send_error(wr, e);
            }
        }
    }
    return rt->handler(wr);
}

static int webot_handler(request_rec *r)
{
    int mount = mount_of(r->handler);
    webot_srv_cfg *sc;
    webot_req_t *wr;
    const char *path, *allow, *id;
    const webot_route_t *rt;
    int rc;

    if (mount < 0) {
        return DECLINED;
    }
    sc = ap_get_module_config(r->server->module_config, &webot_module);
    wr = apr_pcalloc(r->pool, sizeof(*wr));
    wr->r = r;
    wr->p = r->pool;
    wr->sc = sc;
    wr->request_id = request_id_of(r);
    apr_table_setn(r->err_headers_out, "X-Request-Id", wr->request_id);
    apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->subprocess_env, "WEBOT_REQUEST_ID", wr->request_id);
    ap_set_module_config(r->request_config, &webot_module, wr);

    if (!sc->catalog || !sc->secret) {
        return webot_fail(wr, "SERVICE_UNAVAILABLE",
                          "This server is not configured for WeBot "
                          "(WebotCatalogFile, WebotSecretFile).");
    }
    path = relative_path(r, (webot_mount_e)mount);
    switch (path ? webot_route_match(r->pool, webot_routes,
                                     webot_routes_count,
                                     (webot_mount_e)mount, r->method, path,
                                     &rt, &id, &allow)
                 : WEBOT_MATCH_NOT_FOUND) {
    case WEBOT_MATCH_NOT_FOUND:
        return webot_fail(wr, "NOT_FOUND", "No route matches %s %s.",
                          r->method, ap_escape_logitem(r->pool, r->uri));
    case WEBOT_MATCH_METHOD:
        apr_table_setn(r->err_headers_out, "Allow", allow);
        return webot_fail(wr, "METHOD_NOT_ALLOWED",
                          "%s is not allowed here; allowed: %s.", r->method,
                          allow);
    case WEBOT_MATCH_OK:
        break;
    }
    wr->route = rt;
    wr->id = id;
    rc = run_route(wr);
    if (rc == WEBOT_AGAIN) {
        /* The connection died under us before anything was sent: give it
         * back (mod_dbd resets it on the next checkout) and run once more. */
        webot_req_db_release(wr);
        wr->attempt = 1;
        rc = run_route(wr);
        if (rc == WEBOT_AGAIN) {
            rc = webot_send_error(wr, webot_db_error(wr->p, WEBOT_DB_DOWN));
        }
    }
    /* Give the connection back now, not when the request pool goes: the
     * event MPM may keep that pool through write completion, and at child
     * exit such pools are never destroyed before mod_dbd's pool is. */
    webot_req_db_release(wr);
    return rc;
}

static void webot_register_hooks(apr_pool_t *p)
{
    static const char *const pre_dbd[] = { "mod_dbd.c", NULL };
    (void)p;
    ap_hook_post_config(webot_post_config, pre_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_optional_fn_retrieve(webot_optional_fns, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_handler(webot_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_config(webot_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(webot_child_init_dbgate, NULL, NULL, APR_HOOK_MIDDLE);
    webot_auth_register_hooks(p);
    webot_files_register_hooks(p);
    webot_billing_register_hooks(p);
    webot_worker_register_hooks(p);
}

AP_DECLARE_MODULE(webot) = {
    STANDARD20_MODULE_STUFF,
    create_dir_cfg,
    merge_dir_cfg,
    create_srv_cfg,
    merge_srv_cfg,
    webot_cmds,
    webot_register_hooks,
    0
};
