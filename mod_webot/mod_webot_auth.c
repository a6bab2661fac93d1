/* mod_webot_auth.c: the access gate for non-public routes. */
#include "mod_webot.h"

int webot_access_check(webot_req_t *wr)
{
    /* Credentials (API keys, sessions) arrive with the identity work; until
     * then no credential can be valid. */
    return webot_fail(wr, "UNAUTHORIZED",
                      "A valid API key or dashboard session is required.");
}
