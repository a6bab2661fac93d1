/* mod_webot_ratelimit.c: per-key (or per-session) requests per minute,
 * counted in fixed one-minute windows aligned to the clock.
 *
 * The counters live in a mod_socache instance (shmcb by default, so every
 * process of the host sees the same counts), one entry per id and window,
 * read and written under a global mutex (shmcb is not safe for concurrent
 * use, and a count is a read-modify-write). Without a provider the counts
 * are kept per process, which the log says once at start-up. */
#include "mod_webot_auth.h"

#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <ap_provider.h>
#include <ap_socache.h>
#include <util_mutex.h>

#define RL_MUTEX_TYPE "webot-ratelimit"
#define RL_NAMESPACE  "webot-ratelimit"

/* WebotRateLimitCache, reset in pre_config for every configuration pass */
static const char *cfg_provider;    /* NULL: shmcb if loaded */
static const char *cfg_args;

static const ap_socache_provider_t *rl_prov;
static ap_socache_instance_t *rl_inst;
static apr_global_mutex_t *rl_mutex;

/* the per-process fallback: counts of the current window only */
static apr_thread_mutex_t *pp_mutex;
static apr_pool_t *pp_pool;
static apr_hash_t *pp_counts;
static apr_int64_t pp_window = -1;

static int lock_failed_logged;

const char *webot_ratelimit_set_cache(cmd_parms *cmd, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *colon;

    if (err) {
        return err;
    }
    if (!*arg) {
        return "WebotRateLimitCache: a socache provider name (e.g. shmcb) "
               "or none is required";
    }
    colon = strchr(arg, ':');
    cfg_provider = colon ? apr_pstrmemdup(cmd->pool, arg, colon - arg)
                         : apr_pstrdup(cmd->pool, arg);
    cfg_args = colon ? apr_pstrdup(cmd->pool, colon + 1) : NULL;
    if (!*cfg_provider) {
        return "WebotRateLimitCache: the provider name is empty";
    }
    return NULL;
}

void webot_ratelimit_pre_config(apr_pool_t *pconf)
{
    cfg_provider = NULL;
    cfg_args = NULL;
    rl_prov = NULL;
    rl_inst = NULL;
    rl_mutex = NULL;
    ap_mutex_register(pconf, RL_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

static apr_status_t rl_destroy(void *data)
{
    server_rec *s = data;
    if (rl_prov && rl_inst) {
        rl_prov->destroy(rl_inst, s);
    }
    rl_inst = NULL;
    rl_prov = NULL;
    return APR_SUCCESS;
}

int webot_ratelimit_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                server_rec *s)
{
    const char *name = cfg_provider ? cfg_provider : "shmcb";
    struct ap_socache_hints hints;
    const char *err;
    apr_status_t rv;
    ap_socache_instance_t *inst = NULL;
    const ap_socache_provider_t *prov;

    rl_prov = NULL;
    rl_inst = NULL;
    rl_mutex = NULL;
    if (!strcasecmp(name, "none")) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30100)
                     "WebotRateLimitCache none: rate limits are counted per "
                     "process, not shared by the processes of this host");
        return OK;
    }
    prov = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                              AP_SOCACHE_PROVIDER_VERSION);
    if (!prov) {
        if (cfg_provider) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(30101)
                         "WebotRateLimitCache: no socache provider \"%s\" "
                         "(is mod_socache_%s loaded?)", name, name);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30102)
                     "mod_socache_shmcb is not loaded and WebotRateLimitCache "
                     "is not set: rate limits are counted per process, not "
                     "shared by the processes of this host");
        return OK;
    }
    if ((err = prov->create(&inst, cfg_args, ptemp, pconf))) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(30103)
                     "WebotRateLimitCache %s: %s", name, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memset(&hints, 0, sizeof(hints));
    hints.avg_id_len = 40;
    hints.avg_obj_size = 4;
    hints.expiry_interval = 60;
    if ((rv = prov->init(inst, RL_NAMESPACE, &hints, s, pconf))
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, APLOGNO(30104)
                     "WebotRateLimitCache %s: cannot initialise the cache",
                     name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rl_prov = prov;
    rl_inst = inst;
    apr_pool_cleanup_register(pconf, s, rl_destroy, apr_pool_cleanup_null);
    rv = ap_global_mutex_create(&rl_mutex, NULL, RL_MUTEX_TYPE, NULL, s,
                                pconf, 0);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, APLOGNO(30105)
                     "cannot create the rate-limit mutex");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, APLOGNO(30106)
                 "rate limits are shared through socache %s", name);
    return OK;
}

void webot_ratelimit_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;

    if (rl_mutex) {
        rv = apr_global_mutex_child_init(&rl_mutex,
                                         apr_global_mutex_lockfile(rl_mutex),
                                         p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(30107)
                         "cannot attach the rate-limit mutex in this child: "
                         "rate limits are counted per process here");
            rl_mutex = NULL;
        }
    }
    apr_thread_mutex_create(&pp_mutex, APR_THREAD_MUTEX_DEFAULT, p);
    apr_pool_create(&pp_pool, p);
    apr_pool_tag(pp_pool, "webot_ratelimit");
    pp_counts = apr_hash_make(pp_pool);
    pp_window = -1;
}

/* A cache id whose first byte spreads ids over shmcb's subcaches (it picks
 * the subcache from the first byte). */
static unsigned int make_id(char *buf, apr_size_t size, const char *id,
                            apr_int64_t window)
{
    apr_uint32_t h = 2166136261u;
    const char *c;
    int n;

    for (c = id; *c; c++) {
        h = (h ^ (unsigned char)*c) * 16777619u;
    }
    n = apr_snprintf(buf, size, "%08x:%s:%" APR_INT64_T_FMT, h, id, window);
    if (n < 0) {
        return 0;
    }
    return (unsigned int)((apr_size_t)n < size ? (apr_size_t)n : size - 1);
}

static int count_shared(request_rec *r, const char *id, apr_int64_t window,
                        int limit, int take, int *count, int *taken)
{
    char key[160];
    unsigned int klen = make_id(key, sizeof(key), id, window);
    unsigned char val[4];
    unsigned int vlen = sizeof(val);
    apr_uint32_t n = 0;
    apr_status_t rv;

    if ((rv = apr_global_mutex_lock(rl_mutex)) != APR_SUCCESS) {
        if (!lock_failed_logged) {
            lock_failed_logged = 1;
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(30108)
                          "cannot lock the rate-limit mutex: requests are "
                          "let through uncounted");
        }
        return -1;
    }
    if (rl_prov->retrieve(rl_inst, r->server, (unsigned char *)key, klen,
                          val, &vlen, r->pool) == APR_SUCCESS
        && vlen == sizeof(val)) {
        n = (apr_uint32_t)val[0] << 24 | (apr_uint32_t)val[1] << 16
            | (apr_uint32_t)val[2] << 8 | val[3];
    }
    if (take && (long long)n < (long long)limit) {
        n++;
        *taken = 1;
        val[0] = (unsigned char)(n >> 24);
        val[1] = (unsigned char)(n >> 16);
        val[2] = (unsigned char)(n >> 8);
        val[3] = (unsigned char)n;
        rv = rl_prov->store(rl_inst, r->server, (unsigned char *)key, klen,
                            apr_time_from_sec((window + 1) * 60 + 5), val,
                            sizeof(val), r->pool);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, APLOGNO(30109)
                          "cannot store a rate-limit count (cache full?)");
        }
    }
    apr_global_mutex_unlock(rl_mutex);
    *count = (int)n;
    return 0;
}

static int count_local(const char *id, apr_int64_t window, int limit,
                       int take, int *count, int *taken)
{
    int *c;

    if (!pp_mutex || apr_thread_mutex_lock(pp_mutex) != APR_SUCCESS) {
        return -1;
    }
    if (window != pp_window) {
        apr_pool_clear(pp_pool);
        pp_counts = apr_hash_make(pp_pool);
        pp_window = window;
    }
    c = apr_hash_get(pp_counts, id, APR_HASH_KEY_STRING);
    if (!c && take) {
        c = apr_pcalloc(pp_pool, sizeof(*c));
        apr_hash_set(pp_counts, apr_pstrdup(pp_pool, id), APR_HASH_KEY_STRING,
                     c);
    }
    if (c && take && *c < limit) {
        (*c)++;
        *taken = 1;
    }
    *count = c ? *c : 0;
    apr_thread_mutex_unlock(pp_mutex);
    return 0;
}

void webot_ratelimit_take(request_rec *r, const char *id, int limit,
                          int take, webot_rl_t *out)
{
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    apr_int64_t window = now / 60;
    int n = 0, taken = 0, rc;

    out->limit = limit < 0 ? 0 : limit;
    out->reset = (int)(60 - now % 60);
    rc = rl_mutex && rl_prov
         ? count_shared(r, id, window, out->limit, take, &n, &taken)
         : count_local(id, window, out->limit, take, &n, &taken);
    if (rc != 0) {
        /* fail open: an unusable cache must not take the API down */
        out->allowed = 1;
        out->remaining = out->limit;
        return;
    }
    out->allowed = !take || taken;
    out->remaining = out->limit - n < 0 ? 0 : out->limit - n;
}

void webot_ratelimit_headers(request_rec *r, const webot_rl_t *rl)
{
    apr_table_setn(r->err_headers_out, "RateLimit-Policy",
                   apr_psprintf(r->pool, "\"minute\";q=%d;w=60", rl->limit));
    apr_table_setn(r->err_headers_out, "RateLimit",
                   apr_psprintf(r->pool, "\"minute\";r=%d;t=%d",
                                rl->remaining, rl->reset));
}
