/* mod_webot_billing.h: schemas, error lists and handlers of the Stripe checkout and webhook routes
 * (rows in routes_billing.inc). */
#ifndef MOD_WEBOT_BILLING_H
#define MOD_WEBOT_BILLING_H

#endif
