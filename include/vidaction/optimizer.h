/*
 * vida_optimizer: SGD with momentum (optionally Nesterov) and weight decay
 * over a model's learnable tensors, with a learning-rate schedule, per-group
 * multipliers and gradient clipping.
 *
 * An update is PyTorch's torch.optim.SGD (dampening 0) up to rounding
 * (PyTorch fuses some of the multiply-adds), per tensor with learning rate
 * lr * lr_mult and decay weight_decay * wd_mult:
 *
 *     g = clip_scale * grad + wd * w;   buf = momentum * buf + g   (buf = g at the first step)
 *     w -= lr * (nesterov ? g + momentum * buf : buf)
 *
 * Groups: rules matched by name prefix ("fc." is the classifier), the last
 * matching rule wins; lr_mult 0 freezes a tensor (no update; its buffer, if
 * it has one, is kept). decay_norm_and_bias 0 exempts BN weights/biases and
 * biases from decay whatever their wd_mult.
 *
 * Schedule, for the step about to be taken (s = 0, 1, ...), with
 * base = lr * batch / base_batch when both are set (linear scaling), else lr
 * (milestones inside the warm-up take effect when it ends):
 *   s < warmup_steps:  base * (warmup_start + (1 - warmup_start) * s / warmup_steps)
 *   CONSTANT:          base
 *   STEP:              base * gamma^(number of milestones <= s)
 *   COSINE:            min_lr + (base - min_lr) * (1 + cos(pi * t / T)) / 2,
 *                      t = s - warmup_steps, T = total_steps - warmup_steps (t > T: min_lr)
 *
 * A step whose gradients hold a NaN or an infinity changes nothing (weights,
 * buffers, step count) and returns VIDA_ENONFINITE; the caller decides when
 * to stop (vida_optimizer_stats.consecutive_skips).
 *
 * Threads: use an optimizer from the thread that uses its model; a step runs
 * on the calling thread. A call (step, set_group, set_step_count, get/set
 * buffer) while another thread is inside one on the same optimizer, or a step
 * while another thread is inside a call on its model, returns VIDA_ESTATE.
 */
#ifndef VIDACTION_OPTIMIZER_H
#define VIDACTION_OPTIMIZER_H

#include "common.h"
#include "context.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vida_optimizer vida_optimizer;

enum {
    VIDA_SCHEDULE_CONSTANT = 0,
    VIDA_SCHEDULE_STEP = 1,
    VIDA_SCHEDULE_COSINE = 2
};

#define VIDA_MAX_MILESTONES 16

typedef struct vida_optimizer_params {
    size_t size;             /* sizeof(vida_optimizer_params), set by _params_init */
    double lr;               /* base learning rate; default 0.01 */
    double momentum;         /* default 0.9 */
    int nesterov;            /* default 0 */
    double weight_decay;     /* default 1e-4 */
    int decay_norm_and_bias; /* 1 (default, as PyTorch): decay every tensor; 0: conv/fc weights only */
    int schedule;            /* VIDA_SCHEDULE_*; default CONSTANT */
    int64_t warmup_steps;    /* default 0 */
    double warmup_start;     /* warm-up starts at this fraction of the rate; default 0.1 */
    int64_t total_steps;     /* COSINE: the step at which the rate reaches min_lr */
    double min_lr;           /* COSINE: default 0 */
    int n_milestones;        /* STEP: steps at which the rate is multiplied by gamma, */
    int64_t milestones[VIDA_MAX_MILESTONES]; /* ascending */
    double gamma;            /* STEP: default 0.1 */
    int batch, base_batch;   /* linear scaling of lr when both > 0; default 0, 0 */
    double clip_norm;        /* > 0: the update uses the gradients scaled so that their global
                                L2 norm (over tensors not frozen) is at most this; the model's
                                gradients themselves are not changed */
} vida_optimizer_params;

/* Fills *p with defaults. */
VIDA_API void vida_optimizer_params_init(vida_optimizer_params *p);

/*
 * Creates an optimizer over m's learnable tensors. It holds a reference to m: m may be
 * freed (vida_model_free) before it, and stays alive until the optimizer is freed.
 * Returns VIDA_OK, VIDA_EINVAL (a parameter out of range, named), VIDA_ENOMEM.
 */
VIDA_API int vida_optimizer_create(vida_optimizer **out, vida_model *m,
                                   const vida_optimizer_params *p);
VIDA_API void vida_optimizer_free(vida_optimizer *o);

/*
 * Adds a group rule: tensors whose name starts with prefix ("" = all) get
 * these multipliers of the learning rate and of the weight decay. Later
 * rules win. lr_mult 0 freezes. Returns VIDA_OK or VIDA_EINVAL (negative or
 * non-finite multiplier, no tensor matches prefix).
 */
VIDA_API int vida_optimizer_set_group(vida_optimizer *o, const char *prefix, double lr_mult,
                                      double wd_mult);

/*
 * One update from the model's gradients (vida_model_backward). Returns
 * VIDA_OK, VIDA_ENONFINITE (skipped: a gradient is NaN or infinite; the
 * message names the tensor), VIDA_ESTATE (no gradients yet, or every tensor
 * frozen), VIDA_ENOMEM (nothing changed), VIDA_EINVAL (NULL).
 */
VIDA_API int vida_optimizer_step(vida_optimizer *o);

/* The learning rate of step s (before group multipliers); of the next step when s < 0; 0 for NULL. */
VIDA_API double vida_optimizer_lr(const vida_optimizer *o, int64_t s);

typedef struct vida_optimizer_stats {
    size_t size;               /* set by the caller to sizeof(vida_optimizer_stats) */
    int64_t steps;             /* updates applied */
    int64_t skipped;           /* steps skipped (non-finite gradients) */
    int64_t consecutive_skips; /* skipped since the last applied step */
    double last_grad_norm;     /* global L2 norm of the last step's gradients (before clipping) */
    double last_lr;            /* rate of the last applied step (before group multipliers) */
} vida_optimizer_stats;

/* Fills *st (st->size must be set). Returns VIDA_OK or VIDA_EINVAL. */
VIDA_API int vida_optimizer_get_stats(const vida_optimizer *o, vida_optimizer_stats *st);

/*
 * State for checkpoints: the step count (-1 for NULL), and the momentum
 * buffer of each learnable tensor (by the tensor's name, in its file shape
 * and layout, count its element count). A buffer that does not exist yet
 * (before the tensor's first update) reads as zeros; setting one creates it;
 * without momentum there are none (set is refused). Returns VIDA_OK,
 * VIDA_EINVAL (NULL, unknown name, wrong count, no momentum),
 * VIDA_ENONFINITE (set: a value is not finite), VIDA_ENOMEM.
 */
VIDA_API int64_t vida_optimizer_step_count(const vida_optimizer *o);
VIDA_API int vida_optimizer_set_step_count(vida_optimizer *o, int64_t steps);
VIDA_API int vida_optimizer_get_buffer(const vida_optimizer *o, const char *tensor, float *dst,
                                       int64_t count);
VIDA_API int vida_optimizer_set_buffer(vida_optimizer *o, const char *tensor, const float *src,
                                       int64_t count);

#ifdef __cplusplus
}
#endif
#endif
