/* cmd_account.c: webotctl account create --name NAME */
#include "webotctl.h"
#include "webot_util.h"

#define NAME_MAX_CHARS 200      /* accounts.name CHECK */

static int check_name(const char *name)
{
    long n = wctl_utf8_len(name);
    if (n < 0) {
        wctl_err("--name is not valid UTF-8");
        return WCTL_ERR;
    }
    if (n < 1 || n > NAME_MAX_CHARS) {
        wctl_err("--name must be 1 to %d characters", NAME_MAX_CHARS);
        return WCTL_ERR;
    }
    return WCTL_OK;
}

static int insert_account(wctl_t *c, const char *id, const char *name)
{
    const char *params[2] = { id, name };
    return wctl_exec(c, "INSERT INTO accounts (id, name) VALUES ($1, $2)",
                     2, params);
}

int wctl_cmd_account(wctl_t *c, int argc, char **argv)
{
    wctl_opt_t opts[] = { { "--name", 1, NULL }, { NULL, 0, NULL } };
    const char *pos[1], *name, *id;
    int npos, rv;

    if ((rv = wctl_subcommand("account", argc, argv, "create")) != 0
        || (rv = wctl_parse(c, argc - 1, argv + 1, opts, pos, 0, &npos))) {
        return rv;
    }
    if (!(name = wctl_opt(opts, "--name"))) {
        return wctl_missing("account create", "--name NAME");
    }
    if ((rv = check_name(name)) != WCTL_OK
        || (rv = wctl_db_connect(c)) != WCTL_OK) {
        return rv;
    }
    if (!(id = webot_id_new(c->pool, "acct_"))) {
        wctl_err("the system random number generator failed");
        return WCTL_ERR;
    }
    if ((rv = insert_account(c, id, name)) != WCTL_OK) {
        return rv;
    }
    if (c->json) {
        return wctl_print_json(json_pack("{s:s}", "id", id));
    }
    puts(id);
    return WCTL_OK;
}
