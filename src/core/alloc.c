/* Allocation with recorded errors, 64-byte alignment, and checked size arithmetic. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void *vidai_malloc(size_t size)
{
    void *p = NULL;
    size_t rounded;
    if (size == 0)
        size = 1;
    if (vidai_add_size(&rounded, size, 63) != 0) {
        vidai_error(VIDA_ENOMEM, "allocation of %zu bytes is too large", size);
        return NULL;
    }
    rounded &= ~(size_t)63;
    if (posix_memalign(&p, 64, rounded) != 0) {
        vidai_error(VIDA_ENOMEM, "out of memory allocating %zu bytes", size);
        return NULL;
    }
    return p;
}

void *vidai_calloc(size_t n, size_t size)
{
    size_t total;
    void *p;
    if (vidai_mul_size(&total, n, size) != 0) {
        vidai_error(VIDA_ENOMEM, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    p = vidai_malloc(total);
    if (p)
        memset(p, 0, total);
    return p;
}

void vidai_free(void *p)
{
    free(p);
}

char *vidai_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = vidai_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int vidai_mul_size(size_t *out, size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int vidai_add_size(size_t *out, size_t a, size_t b)
{
    if (b > SIZE_MAX - a)
        return -1;
    *out = a + b;
    return 0;
}
