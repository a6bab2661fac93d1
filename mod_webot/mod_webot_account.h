/* mod_webot_account.h: schemas, error lists and handlers of the account context, sessions, API keys (identity) routes
 * (rows in routes_account.inc). */
#ifndef MOD_WEBOT_ACCOUNT_H
#define MOD_WEBOT_ACCOUNT_H

#endif
