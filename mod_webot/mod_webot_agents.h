/* mod_webot_agents.h: schemas, error lists and handlers of the the MCP endpoint and the docs page routes
 * (rows in routes_agents.inc). */
#ifndef MOD_WEBOT_AGENTS_H
#define MOD_WEBOT_AGENTS_H

#endif
