/* cmd_catalog.c: webotctl catalog check [FILE]
 * Validates a catalog file with the module's own loader. */
#include "webotctl.h"
#include "webot_catalog.h"

static int count_options(const webot_catalog_t *cat)
{
    int i, n = 0;
    for (i = 0; i < cat->families->nelts; i++) {
        n += APR_ARRAY_IDX(cat->families, i, webot_family_t *)->options->nelts;
    }
    return n;
}

int wctl_cmd_catalog(wctl_t *c, int argc, char **argv)
{
    const char *pos[1], *path, *err;
    webot_catalog_t *cat;
    int npos, rv, nopt;

    if ((rv = wctl_subcommand("catalog", argc, argv, "check")) != 0
        || (rv = wctl_parse(c, argc - 1, argv + 1, NULL, pos, 1, &npos))) {
        return rv;
    }
    path = npos ? pos[0] : wctl_catalog_path(c);
    if ((err = webot_catalog_load(c->pool, path, &cat)) != NULL) {
        fprintf(stderr, "%s\n", err);
        return WCTL_ERR;
    }
    nopt = count_options(cat);
    if (c->json) {
        return wctl_print_json(json_pack("{s:s,s:b,s:i,s:i,s:i}",
            "file", path, "ok", 1, "families", cat->families->nelts,
            "options", nopt, "plans", cat->plans->nelts));
    }
    printf("%s: ok (%d families, %d options, %d plans)\n", path,
           cat->families->nelts, nopt, cat->plans->nelts);
    return WCTL_OK;
}
