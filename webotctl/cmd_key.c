/* cmd_key.c: webotctl key create --account ID --name NAME [--scopes a,b]
 * The plaintext is printed once; only its SHA-256 is stored. */
#include "webotctl.h"
#include "webot_util.h"

#include <apr_strings.h>
#include <string.h>

#define KEY_NAME_MAX 200        /* api_keys.name CHECK */
#define KEY_BITS     192

static const char *const all_scopes[] = {
    "account:read", "jobs:read", "jobs:write", "files:write", NULL
};

static int scope_index(const char *s, size_t len)
{
    int i;
    for (i = 0; all_scopes[i]; i++) {
        if (strlen(all_scopes[i]) == len && !strncmp(all_scopes[i], s, len)) {
            return i;
        }
    }
    return -1;
}

/* Comma list → canonical comma list (catalogue order, no duplicates);
 * NULL (message printed) on an unknown or empty scope. */
static const char *parse_scopes(apr_pool_t *p, const char *in)
{
    int want[4] = { 0, 0, 0, 0 }, i;
    const char *s = in, *out = NULL;

    if (!in) {
        return "account:read,jobs:read,jobs:write,files:write";
    }
    for (;;) {
        size_t len = strcspn(s, ",");
        int idx = scope_index(s, len);
        if (idx < 0) {
            wctl_err("unknown scope '%.*s' (scopes: account:read, jobs:read, "
                     "jobs:write, files:write)", (int)len, s);
            return NULL;
        }
        want[idx] = 1;
        if (!s[len]) {
            break;
        }
        s += len + 1;
    }
    for (i = 0; all_scopes[i]; i++) {
        if (want[i]) {
            out = out ? apr_pstrcat(p, out, ",", all_scopes[i], NULL)
                      : all_scopes[i];
        }
    }
    return out;
}

static int check_name(const char *name)
{
    long n = wctl_utf8_len(name);
    if (n < 1 || n > KEY_NAME_MAX) {
        wctl_err("--name must be 1 to %d characters of UTF-8", KEY_NAME_MAX);
        return WCTL_ERR;
    }
    return WCTL_OK;
}

/* params: id, account, name, hash (hex), prefix, scopes (comma list) */
static int insert_key(wctl_t *c, const char *const params[6])
{
    int ok;
    PGresult *res = wctl_q(c,
        "INSERT INTO api_keys (id, account_id, name, key_hash, prefix, scopes)"
        " VALUES ($1, $2, $3, decode($4, 'hex'), $5,"
        " string_to_array($6, ','))", 6, params, &ok);

    if (!ok) {
        if (strcmp(wctl_sqlstate(res), "23503") == 0) {
            wctl_err("unknown account %s", params[1]);
        }
        else {
            wctl_db_error(res, "creating the key");
        }
    }
    PQclear(res);
    return ok ? WCTL_OK : WCTL_ERR;
}

static int print_key(wctl_t *c, const char *const p[6], const char *key)
{
    if (c->json) {
        return wctl_print_json(json_pack("{s:s,s:s,s:s}", "id", p[0],
                                         "key", key, "prefix", p[4]));
    }
    puts(key);
    fprintf(stderr, "webotctl: created %s (%s) for %s with scopes %s; the "
            "key is shown only now\n", p[0], p[4], p[1], p[5]);
    return WCTL_OK;
}

int wctl_cmd_key(wctl_t *c, int argc, char **argv)
{
    wctl_opt_t opts[] = { { "--account", 1, NULL }, { "--name", 1, NULL },
                          { "--scopes", 1, NULL }, { NULL, 0, NULL } };
    const char *pos[1], *p[6], *key;
    unsigned char hash[WEBOT_SHA256_LEN];
    int npos, rv;

    if ((rv = wctl_subcommand("key", argc, argv, "create")) != 0
        || (rv = wctl_parse(c, argc - 1, argv + 1, opts, pos, 0, &npos))) {
        return rv;
    }
    p[1] = wctl_opt(opts, "--account");
    p[2] = wctl_opt(opts, "--name");
    if (!p[1] || !p[2]) {
        return wctl_missing("key create", !p[1] ? "--account ID"
                                                : "--name NAME");
    }
    if (check_name(p[2]) != WCTL_OK
        || !(p[5] = parse_scopes(c->pool, wctl_opt(opts, "--scopes")))
        || wctl_db_connect(c) != WCTL_OK
        || wctl_account_exists(c, p[1]) != 1) {
        return WCTL_ERR;
    }
    p[0] = webot_id_new(c->pool, "key_");
    key = webot_token_new(c->pool, "wbt_", KEY_BITS);
    if (!p[0] || !key) {
        wctl_err("the system random number generator failed");
        return WCTL_ERR;
    }
    webot_sha256(key, strlen(key), hash);
    p[3] = webot_hex(c->pool, hash, sizeof(hash));
    p[4] = webot_key_display(c->pool, key);
    if ((rv = insert_key(c, p)) != WCTL_OK) {
        return rv;
    }
    return print_key(c, p, key);
}
