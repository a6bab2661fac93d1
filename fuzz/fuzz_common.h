/* fuzz_common.h: what every harness shares: APR set up once, a pool per
 * input (destroyed after it, so pool-owned JSON is freed and LeakSanitizer
 * sees what a request would leak), the input cut into fields, and CHECK
 * for properties (a failed one aborts: libFuzzer keeps the input as a
 * crash). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static apr_pool_t *fuzz_root;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__,       \
                    __LINE__, #cond);                                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* At exit the root pool goes, with every JSON value it owns, before
 * LeakSanitizer looks (atexit handlers run last-registered first). */
static inline void fuzz_apr_fini(void)
{
    apr_pool_destroy(fuzz_root);
    fuzz_root = NULL;
    apr_terminate();
}

static inline void fuzz_apr_init(void)
{
    if (!fuzz_root) {
        apr_initialize();
        apr_pool_create(&fuzz_root, NULL);
        atexit(fuzz_apr_fini);
    }
}

static inline apr_pool_t *fuzz_pool(void)
{
    apr_pool_t *p;
    fuzz_apr_init();
    apr_pool_create(&p, fuzz_root);
    return p;
}

/* The input cut at NUL bytes into at most `max` C strings (a C string is
 * what the server ever hands these functions: headers and query values
 * end at the first NUL). Missing fields are "". Returns the count found. */
static inline int fuzz_fields(apr_pool_t *p, const uint8_t *data, size_t size,
                       const char **f, int max)
{
    size_t i = 0;
    int n = 0;
    while (n < max) {
        const uint8_t *nul;
        size_t len;
        if (i > size) {
            f[n++] = "";
            continue;
        }
        nul = memchr(data + i, 0, size - i);
        len = nul ? (size_t)(nul - (data + i)) : size - i;
        f[n++] = apr_pstrmemdup(p, (const char *)data + i, len);
        i += len + 1;
    }
    return n;
}

/* A NUL-terminated copy of the whole input (may contain inner NULs). */
static inline char *fuzz_copy(apr_pool_t *p, const uint8_t *data, size_t size)
{
    return apr_pstrmemdup(p, (const char *)data, size);
}

/* A copy of len bytes with room for `extra` more (and a NUL after them). */
static inline char *fuzz_copy_extra(apr_pool_t *p, const char *s, size_t len,
                                    size_t extra)
{
    char *c = apr_pcalloc(p, len + extra + 1);
    memcpy(c, s, len);
    return c;
}

#endif
