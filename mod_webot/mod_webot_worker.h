/* mod_webot_worker.h: the job worker's glue (mod_webot_worker.c): its
 * directives, hooks, the mod_status section and what /api/v1/health asks
 * of it. The worker is one thread per httpd instance (a singleton
 * mod_watchdog instance "webot-worker"); see docs/worker.md. */
#ifndef MOD_WEBOT_WORKER_H
#define MOD_WEBOT_WORKER_H

#include "mod_webot.h"

const char *webot_worker_set_flag(cmd_parms *cmd, void *d, int on);
const char *webot_worker_set_int(cmd_parms *cmd, void *d, const char *arg);
const char *webot_worker_set_backoff(cmd_parms *cmd, void *d,
                                     const char *base, const char *max);
const char *webot_worker_set_executor(cmd_parms *cmd, void *d,
                                      const char *family, const char *url);
const char *webot_worker_set_secret(cmd_parms *cmd, void *d,
                                    const char *arg);
const char *webot_worker_set_timeout(cmd_parms *cmd, void *d, int argc,
                                     char *const argv[]);
const char *webot_worker_set_conninfo(cmd_parms *cmd, void *d,
                                      const char *arg);

/* Directive table rows (mod_webot.c puts them in webot_cmds[]). Integer
 * directives share one handler, told apart by cmd->info. */
#define WEBOT_WORKER_CMDS \
    AP_INIT_FLAG("WebotWorker", webot_worker_set_flag, NULL, RSRC_CONF, \
                 "run the job worker in this httpd instance (default On)"), \
    AP_INIT_TAKE1("WebotWorkerConcurrency", webot_worker_set_int, \
                  "concurrency", RSRC_CONF, \
                  "jobs executed at once on this host (default 10)"), \
    AP_INIT_TAKE1("WebotWorkerLease", webot_worker_set_int, "lease", \
                  RSRC_CONF, "seconds a claim holds a job without renewal " \
                  "(default 60)"), \
    AP_INIT_TAKE1("WebotWorkerPollInterval", webot_worker_set_int, "poll", \
                  RSRC_CONF, "seconds between safety-net polls of the " \
                  "queue (default 10)"), \
    AP_INIT_TAKE1("WebotWorkerMaxAttempts", webot_worker_set_int, \
                  "attempts", RSRC_CONF, "executor attempts before a job " \
                  "goes to staff review (default 5)"), \
    AP_INIT_TAKE1("WebotWorkerHousekeepingInterval", webot_worker_set_int, \
                  "housekeeping", RSRC_CONF, "seconds between housekeeping " \
                  "runs (default 300)"), \
    AP_INIT_TAKE12("WebotWorkerBackoff", webot_worker_set_backoff, NULL, \
                   RSRC_CONF, "retry delay: BASE seconds, doubled per " \
                   "attempt up to MAX (default 10 600)"), \
    AP_INIT_TAKE2("WebotExecutor", webot_worker_set_executor, NULL, \
                  RSRC_CONF, "FAMILY|* URL|manual: where jobs of a service " \
                  "family are executed"), \
    AP_INIT_TAKE1("WebotExecutorSecretFile", webot_worker_set_secret, NULL, \
                  RSRC_CONF, "file holding the secret that signs executor " \
                  "calls (at least 32 bytes)"), \
    AP_INIT_TAKE_ARGV("WebotExecutorTimeout", webot_worker_set_timeout, \
                      NULL, RSRC_CONF, "TOTAL [CONNECT [STALL]] seconds of " \
                      "an executor call (default 120 10 120)"), \
    AP_INIT_TAKE1("WebotExecutorMaxResponseBytes", webot_worker_set_int, \
                  "maxresp", RSRC_CONF, "largest executor answer kept " \
                  "(default 1048576)"), \
    AP_INIT_TAKE1("WebotNotifyConnInfo", webot_worker_set_conninfo, NULL, \
                  RSRC_CONF, "libpq conninfo of the module's own " \
                  "connections (worker, LISTEN/NOTIFY); default: the " \
                  "database of DBDParams")

/* Hooks of the worker (post_config, child_init, child_stopping, the
 * status hook); called from webot_register_hooks. */
void webot_worker_register_hooks(apr_pool_t *p);

/* The worker as /api/v1/health shows it: "off" when this instance runs
 * none (WebotWorker Off), else "ok" when its heartbeat is fresh or
 * "stale". NULL when the database failed (*rc says how). */
const char *webot_worker_health(server_rec *s, webot_db_t *db,
                                apr_pool_t *p, webot_dbrc_e *rc);

/* The libpq conninfo of WebotNotifyConnInfo, or NULL when unset (then a
 * connection's parameters are taken from the mod_dbd pool). Shared by
 * every LISTEN/NOTIFY user of the module (the worker, SSE). */
const char *webot_notify_conninfo(void);

/* A conninfo naming the database of a mod_dbd connection (host, port,
 * dbname, user, password), for own connections when WebotNotifyConnInfo
 * is unset; NULL when no pooled connection can be had. */
const char *webot_conninfo_from_dbd(apr_pool_t *p, server_rec *s);

#endif
