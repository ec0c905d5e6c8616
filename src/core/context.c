/*
 * vida_context: backend choice, CPU threads (our pool and OpenBLAS's),
 * seed and logging. Reference counted: handles made from a context hold a
 * reference, so the caller may free the context before them.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "core/core.h"
#ifdef VIDA_HAVE_CUDA
#include "backend/cuda/cuda.h"
#endif

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
#ifdef VIDA_HAVE_CUDA
    return vidai_cuda_device_count();
#else
    return 0;
#endif
}

/* VIDA_DEVICE=auto|cpu|cuda|cuda:N decides what VIDA_BACKEND_AUTO means (as CUDA_VISIBLE_DEVICES
   narrows what CUDA sees). */
static int auto_from_env(vida_context_params *p)
{
    const char *e = getenv("VIDA_DEVICE");
    char *end;
    long n;
    if (!e || !*e || !strcmp(e, "auto"))
        return VIDA_OK;
    if (!strcmp(e, "cpu")) {
        p->backend = VIDA_BACKEND_CPU;
        return VIDA_OK;
    }
    if (!strcmp(e, "cuda")) {
        p->backend = VIDA_BACKEND_CUDA;
        return VIDA_OK;
    }
    if (!strncmp(e, "cuda:", 5)) {
        n = strtol(e + 5, &end, 10);
        if (end != e + 5 && !*end && n >= 0 && n < 1024) {
            p->backend = VIDA_BACKEND_CUDA;
            p->device = (int)n;
            return VIDA_OK;
        }
    }
    return vidai_error(VIDA_EINVAL, "vida_context_create: environment VIDA_DEVICE='%.40s' is not "
                       "auto, cpu, cuda or cuda:N", e);
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
    if (p.device < 0)
        return vidai_error(VIDA_EINVAL, "vida_context_create: device %d is negative", p.device);
    if (p.backend == VIDA_BACKEND_AUTO && (rc = auto_from_env(&p)) != VIDA_OK)
        return rc;
#ifndef VIDA_HAVE_CUDA
    if (p.backend == VIDA_BACKEND_CUDA)
        return vidai_error(VIDA_EUNSUPPORTED,
                           "vida_context_create: CUDA backend asked for, but this build has no "
                           "CUDA support (vida_features() lacks VIDA_FEATURE_CUDA)");
#endif
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
#ifdef VIDA_HAVE_CUDA
    if (p.backend == VIDA_BACKEND_CUDA || (p.backend == VIDA_BACKEND_AUTO && vidai_cuda_device_count() > 0)) {
        vidai_cuda *cu = NULL;
        rc = vidai_cuda_create(&cu, p.device);
        if (rc != VIDA_OK) {
            vidai_pool_free(ctx->pool);
            vidai_free(ctx);
            return vidai_error_prefix(rc, "vida_context_create: ");
        }
        ctx->cuda = cu;
        ctx->backend = VIDA_BACKEND_CUDA;
    }
#endif
    /* A CPU context runs its GEMMs on its pool (backend/cpu/gemm.c), one single-threaded
       OpenBLAS call per pool thread: OpenBLAS's own threads would spin between calls. The
       setting is process-wide (docs/design.md); a CUDA context leaves it alone. */
    if (ctx->backend != VIDA_BACKEND_CUDA)
        openblas_set_num_threads(1);
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
#ifdef VIDA_HAVE_CUDA
    vidai_cuda_free(ctx->cuda);
#endif
    vidai_pool_free(ctx->pool);
    vidai_free(ctx);
}

int vida_context_backend(const vida_context *ctx)
{
    return ctx ? ctx->backend : -1;
}

int vida_context_set_precision(vida_context *ctx, int precision)
{
    if (!ctx)
        return vidai_error(VIDA_EINVAL, "vida_context_set_precision: ctx is NULL");
    if (precision != VIDA_PRECISION_FP32 && precision != VIDA_PRECISION_BF16 &&
        precision != VIDA_PRECISION_FP16)
        return vidai_error(VIDA_EINVAL, "vida_context_set_precision: unknown precision %d", precision);
#ifdef VIDA_HAVE_CUDA
    if (ctx->cuda) {
        vidai_cuda_set_precision(ctx->cuda, precision == VIDA_PRECISION_BF16   ? VIDAI_CUDA_BF16
                                            : precision == VIDA_PRECISION_FP16 ? VIDAI_CUDA_FP16
                                                                               : VIDAI_CUDA_FP32);
        return VIDA_OK;
    }
#endif
    if (precision != VIDA_PRECISION_FP32)
        return vidai_error(VIDA_EUNSUPPORTED, "vida_context_set_precision: %s mixed precision "
                           "needs the CUDA backend (this context runs on the CPU)",
                           precision == VIDA_PRECISION_BF16 ? "bf16" : "fp16");
    return VIDA_OK;
}

const char *vida_context_device_name(const vida_context *ctx)
{
    if (!ctx)
        return NULL;
#ifdef VIDA_HAVE_CUDA
    if (ctx->cuda)
        return vidai_cuda_describe(ctx->cuda);
#endif
    return "CPU";
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
