/* out.c: messages, usage text and JSON output of webotctl. */
#include "webotctl.h"

#include <stdarg.h>
#include <stdlib.h>

static const char usage_text[] =
"usage: webotctl [--db CONNINFO] [--json] [--catalog FILE] [--sql-dir DIR]\n"
"                COMMAND ...\n"
"\n"
"commands:\n"
"  migrate                          apply sql/NNN_*.sql migrations once each\n"
"  account create --name NAME       create an account, print its id\n"
"  user create --account ID --email EMAIL --role owner|admin|member\n"
"              --password-stdin     add a dashboard user (password: one\n"
"                                   line on stdin, 8..1024 bytes)\n"
"  entitlement grant --account ID --plan PLAN [--days N]\n"
"              [--monthly-jobs N] [--max-active-jobs N]\n"
"              [--rate-limit-per-minute N]\n"
"                                   manual entitlement (source manual)\n"
"  key create --account ID --name NAME [--scopes a,b]\n"
"                                   create an API key, print it once\n"
"  job review JOB_ID --release|--reject [--note TEXT]\n"
"                                   staff decision on a needs_review job\n"
"  catalog check [FILE]             validate a catalog file\n"
"  help                             this text\n"
"\n"
"Database: --db, else $WEBOT_DB, else \"" WCTL_DEFAULT_DB "\".\n"
"Catalog: --catalog, else $WEBOT_CATALOG, else <exe>/../conf/catalog.json,\n"
"else /etc/webot/catalog.json. SQL: --sql-dir, else $WEBOT_SQL_DIR, else\n"
"<exe>/../sql, else /usr/local/share/webot/sql.\n"
"--json prints one JSON object on stdout. Exit: 0 ok, 1 error, 2 usage.\n";

void wctl_usage(FILE *f)
{
    fputs(usage_text, f);
}

void wctl_err(const char *fmt, ...)
{
    va_list ap;
    fputs("webotctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int wctl_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("webotctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    wctl_usage(stderr);
    return WCTL_USAGE;
}

int wctl_print_json(json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!s) {
        wctl_err("out of memory");
        return WCTL_ERR;
    }
    puts(s);
    free(s);
    return WCTL_OK;
}

/* Length of the UTF-8 sequence at p (1..4), or 0 when it is not valid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static int utf8_seq(const unsigned char *p)
{
    int n, i;
    unsigned lo = 0x80, hi = 0xBF;

    if (p[0] < 0x80) return 1;
    if (p[0] < 0xC2) return 0;
    n = p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : p[0] < 0xF5 ? 4 : 0;
    if (p[0] == 0xE0) lo = 0xA0;
    if (p[0] == 0xED) hi = 0x9F;
    if (p[0] == 0xF0) lo = 0x90;
    if (p[0] == 0xF4) hi = 0x8F;
    for (i = 1; i < n; i++) {
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xBF)) {
            return 0;
        }
    }
    return n;
}

long wctl_utf8_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;

    while (*p) {
        int len = utf8_seq(p);
        if (!len) {
            return -1;
        }
        p += len;
        n++;
    }
    return n;
}
