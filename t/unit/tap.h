/* tap.h: the TAP output shared by the C unit tests (t/unit/test_*.c).
 * ok() prints "ok N - name" or "not ok N - name" and counts failures; a test
 * ends with printf("1..%d\n", ntests) and returns nfailed != 0. */
#ifndef WEBOT_UNIT_TAP_H
#define WEBOT_UNIT_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int ntests, nfailed;

static int ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), unused));

static int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    ntests++;
    printf("%s %d - ", cond ? "ok" : "not ok", ntests);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        nfailed++;
    }
    return cond;
}

#endif
