/*
 * vida_context: backend choice, CPU threads (our pool and OpenBLAS's),
 * seed and logging. Reference counted: handles made from a context hold a
 * reference, so the caller may free the context before them.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "core/core.h"

void vida_context_params_init(vida_context_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->size = sizeof *p;
    p->backend = VIDA_BACKEND_AUTO;
    p->log_level = VIDA_LOG_WARN;
}

int vida_device_count(void)
{
    return 0;
}

int vida_context_create(vida_context **out, const vida_context_params *params)
{
    vida_context_params p;
    vida_context *ctx;
    long ncpu;
    int rc;
    if (!out)
        return vidai_error(VIDA_EINVAL, "vida_context_create: out is NULL");
    *out = NULL;
    vida_context_params_init(&p);
    if (params) {
        if (params->size != sizeof p)
            return vidai_error(VIDA_EINVAL,
                               "vida_context_create: params.size is %zu, this library wants %zu "
                               "(call vida_context_params_init)",
                               params->size, sizeof p);
        p = *params;
    }
    if (p.backend != VIDA_BACKEND_AUTO && p.backend != VIDA_BACKEND_CPU &&
        p.backend != VIDA_BACKEND_CUDA)
        return vidai_error(VIDA_EINVAL, "vida_context_create: unknown backend %d", p.backend);
    if (p.backend == VIDA_BACKEND_CUDA)
        return vidai_error(VIDA_EUNSUPPORTED,
                           "vida_context_create: CUDA backend asked for, but this build has no "
                           "CUDA support (vida_features() lacks VIDA_FEATURE_CUDA)");
    if (p.n_threads < 0 || p.n_threads > 1024)
        return vidai_error(VIDA_EINVAL, "vida_context_create: n_threads %d out of range [0, 1024]",
                           p.n_threads);
    if (p.n_threads == 0) {
        ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = ncpu > 0 ? (int)(ncpu > 1024 ? 1024 : ncpu) : 1;
    }
    ctx = vidai_calloc(1, sizeof *ctx);
    if (!ctx)
        return VIDA_ENOMEM;
    ctx->refcount = 1;
    ctx->backend = VIDA_BACKEND_CPU;
    ctx->device = p.device;
    ctx->n_threads = p.n_threads;
    ctx->seed = p.seed;
    ctx->log_level = p.log_level;
    ctx->log = p.log;
    ctx->log_user_data = p.log_user_data;
    rc = vidai_pool_create(&ctx->pool, p.n_threads);
    if (rc != VIDA_OK) {
        vidai_free(ctx);
        return rc;
    }
    /* OpenBLAS's thread count is process-wide: the last context created sets it. */
    openblas_set_num_threads(p.n_threads);
    *out = ctx;
    return VIDA_OK;
}

void vidai_context_ref(vida_context *ctx)
{
    if (ctx)
        atomic_fetch_add((_Atomic int *)&ctx->refcount, 1);
}

void vida_context_free(vida_context *ctx)
{
    if (!ctx)
        return;
    if (atomic_fetch_sub((_Atomic int *)&ctx->refcount, 1) != 1)
        return;
    vidai_pool_free(ctx->pool);
    vidai_free(ctx);
}

int vida_context_backend(const vida_context *ctx)
{
    return ctx ? ctx->backend : -1;
}

int vida_context_n_threads(const vida_context *ctx)
{
    return ctx ? ctx->n_threads : -1;
}

void vidai_log(const vida_context *ctx, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (ctx && level > ctx->log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx && ctx->log)
        ctx->log(level, msg, ctx->log_user_data);
    else
        fprintf(stderr, "vidaction: %s\n", msg);
}
