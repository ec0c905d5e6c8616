/*
 * vida_context: the backend, thread count, seed and log callback shared by the
 * handles made from it. Handles made from a context keep it alive: it is
 * freed when the last of them (and the caller's reference) is freed.
 */
#ifndef VIDACTION_CONTEXT_H
#define VIDACTION_CONTEXT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vida_context vida_context;

enum {
    VIDA_BACKEND_AUTO = 0, /* the GPU when there is one, else the CPU; the environment variable
                              VIDA_DEVICE=cpu|cuda|cuda:N overrides this choice */
    VIDA_BACKEND_CPU = 1,
    VIDA_BACKEND_CUDA = 2
};

enum {
    VIDA_LOG_ERROR = 0,
    VIDA_LOG_WARN = 1,
    VIDA_LOG_INFO = 2,
    VIDA_LOG_DEBUG = 3
};

typedef void (*vida_log_fn)(int level, const char *msg, void *user_data);

typedef struct vida_context_params {
    size_t size;       /* sizeof(vida_context_params), set by _params_init */
    int backend;       /* VIDA_BACKEND_*; default AUTO */
    int device;        /* device index for CUDA; default 0 */
    int n_threads;     /* CPU threads; 0 = number of online CPUs */
    uint64_t seed;     /* base seed of all randomness; default 0 */
    int log_level;     /* messages above this level are dropped; default WARN */
    vida_log_fn log;   /* NULL: messages go to stderr */
    void *log_user_data;
} vida_context_params;

/* Fills *p with defaults. */
VIDA_API void vida_context_params_init(vida_context_params *p);

/*
 * Creates a context. p may be NULL for defaults.
 * Returns VIDA_OK, VIDA_EINVAL (bad params or size), VIDA_EUNSUPPORTED
 * (CUDA asked for but not compiled in), VIDA_EDEVICE (no such device),
 * VIDA_ENOMEM.
 */
VIDA_API int vida_context_create(vida_context **out, const vida_context_params *p);

/* Drops the caller's reference. NULL is a no-op. */
VIDA_API void vida_context_free(vida_context *ctx);

/* The backend actually in use (VIDA_BACKEND_CPU or _CUDA); -1 for NULL. */
VIDA_API int vida_context_backend(const vida_context *ctx);

enum {
    VIDA_PRECISION_FP32 = 0, /* float32 everywhere (no TF32) */
    VIDA_PRECISION_BF16 = 1, /* CUDA: bf16 convolutions, fp32 master weights, BN and loss */
    VIDA_PRECISION_FP16 = 2  /* CUDA: fp16 convolutions, as bf16; vida_train_step scales the
                                loss (dynamic loss scaling) so small gradients survive */
};

/*
 * Sets the arithmetic of the models run on ctx (since 0.4). bf16 and fp16
 * need the CUDA backend: VIDA_EUNSUPPORTED on the CPU. Default
 * VIDA_PRECISION_FP32. Set it before training starts: an optimizer keeps the
 * loss scale it began with.
 */
VIDA_API int vida_context_set_precision(vida_context *ctx, int precision);

/* "CPU", or the GPU's name, compute capability, driver and cuDNN version; NULL for NULL. */
VIDA_API const char *vida_context_device_name(const vida_context *ctx);

/* The number of CPU threads the context uses; -1 for NULL. */
VIDA_API int vida_context_n_threads(const vida_context *ctx);

/* The number of CUDA devices visible (0 without CUDA). */
VIDA_API int vida_device_count(void);

#ifdef __cplusplus
}
#endif
#endif
