/*
 * Internal core: error recording, allocation, thread pool, counter-based RNG,
 * and the context structure. Every src/ folder may include this.
 */
#ifndef VIDAI_CORE_H
#define VIDAI_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "vidaction/common.h"
#include "vidaction/context.h"

#if defined(__GNUC__)
#define VIDAI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VIDAI_PRINTF(a, b)
#endif

/*
 * Records a formatted message as this thread's last error and returns code,
 * so that callers write `return vidai_error(VIDA_EFORMAT, "%s: ...", path);`.
 */
int vidai_error(int code, const char *fmt, ...) VIDAI_PRINTF(2, 3);

/*
 * Prefixes this thread's last error with a formatted context ("model.st: ")
 * and returns code unchanged. For adding the outer name on the way up.
 */
int vidai_error_prefix(int code, const char *fmt, ...) VIDAI_PRINTF(2, 3);

/*
 * A handle's call guard (guard.c): a public call does
 *     if ((rc = vidai_guard_enter(&h->guard, __func__, "model")) != VIDA_OK) return rc;
 *     ... vidai_guard_leave(&h->guard);
 * and gets VIDA_ESTATE, naming the call and the handle, while another thread
 * is inside a call on the same handle. The same thread may nest calls. A
 * zeroed guard is free.
 */
typedef struct vidai_guard {
    uintptr_t owner; /* the thread inside a call, 0 if none (__atomic builtins) */
    int depth;       /* the owner's nested calls */
} vidai_guard;
int vidai_guard_enter(vidai_guard *g, const char *fn, const char *what);
void vidai_guard_leave(vidai_guard *g);
/*
 * The whole body of a public call made inside handle h's guard (its field `guard`): returns
 * call's status, or VIDA_ESTATE from the guard. A NULL h goes straight to call, which reports
 * it. name: the public function's name, for the message.
 */
#define VIDAI_GUARDED(h, name, what, call)                                                         \
    do {                                                                                           \
        int rc_;                                                                                   \
        if (!(h))                                                                                  \
            return (call);                                                                         \
        if ((rc_ = vidai_guard_enter((vidai_guard *)&(h)->guard, (name), (what))) != VIDA_OK)     \
            return rc_;                                                                            \
        rc_ = (call);                                                                              \
        vidai_guard_leave((vidai_guard *)&(h)->guard);                                             \
        return rc_;                                                                                \
    } while (0)

/* Allocation. vidai_malloc/calloc record VIDA_ENOMEM text on failure. 64-byte aligned. */
void *vidai_malloc(size_t size);
void *vidai_calloc(size_t n, size_t size);
void vidai_free(void *p);
char *vidai_strdup(const char *s);
/* Tests: the n-th vidai_malloc/calloc/strdup from now (n >= 1) fails with VIDA_ENOMEM; 0: none. */
void vidai_alloc_fail_at(long n);
/* Memory failures on this thread so far: failed vidai_malloc/calloc/strdup calls, and those
   noted by vidai_note_alloc_failure (FFmpeg's out-of-memory). Tells a real out-of-memory from a
   size limit, which gives VIDA_ENOMEM too (a decompression bomb over max_pixels). */
long vidai_alloc_failures(void);
void vidai_note_alloc_failure(void);

/* Checked size arithmetic: 0 on success, -1 on overflow. */
int vidai_mul_size(size_t *out, size_t a, size_t b);
int vidai_add_size(size_t *out, size_t a, size_t b);

/* Thread pool: runs fn(arg, i) for i in [0, n) over the pool's threads and the caller's. */
typedef struct vidai_pool vidai_pool;
typedef void (*vidai_task_fn)(void *arg, int64_t i);
int vidai_pool_create(vidai_pool **out, int n_threads);
void vidai_pool_free(vidai_pool *pool);
int vidai_pool_n_threads(const vidai_pool *pool);
/* pool may be NULL (runs serially). Blocks until all n calls returned. Not reentrant. */
void vidai_pool_run(vidai_pool *pool, int64_t n, vidai_task_fn fn, void *arg);

/*
 * Counter-based RNG (SplitMix64 finaliser over a key and a counter): the value
 * for (key, counter) does not depend on call order or thread, so a sample's
 * randomness is f(seed, epoch, index).
 */
uint64_t vidai_hash64(uint64_t x);
uint64_t vidai_rng_u64(uint64_t key, uint64_t counter);
/* Uniform in [0, 1) with 24 random bits; exact in float. */
float vidai_rng_uniform(uint64_t key, uint64_t counter);
/* Standard normal (Box-Muller over counters 2*counter and 2*counter+1). */
float vidai_rng_normal(uint64_t key, uint64_t counter);
/* Both values of the Box-Muller pair for counter (the first is vidai_rng_normal's). */
void vidai_rng_normal2(uint64_t key, uint64_t counter, float *a, float *b);

/* The context, shared by reference among the handles made from it. */
struct vida_context {
    int refcount; /* atomic */
    int backend;
    int device;
    int n_threads;
    uint64_t seed;
    int log_level;
    vida_log_fn log;
    void *log_user_data;
    vidai_pool *pool;
    void *cuda; /* struct vidai_cuda (backend/cuda/cuda.h) when the backend is CUDA, else NULL */
};

void vidai_context_ref(vida_context *ctx);
void vidai_log(const vida_context *ctx, int level, const char *fmt, ...) VIDAI_PRINTF(3, 4);

#endif
