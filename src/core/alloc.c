/*
 * Allocation with recorded errors, 64-byte alignment, and checked size
 * arithmetic; and the fault injection the tests use to fail any one
 * allocation (vidai_alloc_fail_at).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static atomic_long fail_countdown; /* > 0: allocations left until the one that fails */
static _Thread_local long n_failures; /* memory failures on this thread */

long vidai_alloc_failures(void)
{
    return n_failures;
}

void vidai_note_alloc_failure(void)
{
    n_failures++;
}

void vidai_alloc_fail_at(long n)
{
    atomic_store(&fail_countdown, n > 0 ? n : 0);
}

void *vidai_malloc(size_t size)
{
    void *p = NULL;
    size_t rounded;
    if (atomic_load_explicit(&fail_countdown, memory_order_relaxed) > 0 &&
        atomic_fetch_sub(&fail_countdown, 1) == 1) {
        n_failures++;
        vidai_error(VIDA_ENOMEM, "out of memory allocating %zu bytes (injected)", size);
        return NULL;
    }
    if (size == 0)
        size = 1;
    if (vidai_add_size(&rounded, size, 63) != 0) {
        vidai_error(VIDA_ENOMEM, "allocation of %zu bytes is too large", size);
        return NULL;
    }
    rounded &= ~(size_t)63;
    if (posix_memalign(&p, 64, rounded) != 0) {
        n_failures++;
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
