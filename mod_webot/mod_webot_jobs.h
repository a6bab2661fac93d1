/* mod_webot_jobs.h: schemas, error lists and handlers of the jobs, events, preflight, usage routes
 * (rows in routes_jobs.inc). */
#ifndef MOD_WEBOT_JOBS_H
#define MOD_WEBOT_JOBS_H

#endif
