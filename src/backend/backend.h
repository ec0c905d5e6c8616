/*
 * The private op table: every numeric operation a model needs, on raw arrays.
 * The CPU implementation (cpu/) is the readable reference; a CUDA one will
 * implement the same signatures and be tested op by op against it.
 *
 * Conventions
 * - Activations are channels-last: N, T, H, W, C, float32, dense.
 * - Convolution weights are [Cout][kT][kH][kW][Cin] ("OTHWI"); the model
 *   converts from PyTorch's [Cout][Cin][kT][kH][kW] at load and save.
 * - Linear weights are PyTorch's [out][in].
 * - Forward ops write (overwrite) their outputs.
 * - Backward ops ADD into every gradient they produce (dx, dw, db, dgamma,
 *   dbeta); the caller zeroes gradients first. This makes fan-out (residual
 *   branches) free.
 * - `pool` may be NULL (serial). Ops never fail on valid sizes, except for
 *   allocation of scratch memory: those return VIDA_ENOMEM.
 */
#ifndef VIDAI_BACKEND_H
#define VIDAI_BACKEND_H

#include <stdint.h>

#include "core/core.h"

/* A 3-D convolution: sizes of input, filter, stride, padding, and output. */
typedef struct vidai_conv_desc {
    int n, t, h, w, cin;  /* input [n][t][h][w][cin] */
    int cout, kt, kh, kw; /* filter [cout][kt][kh][kw][cin] */
    int st, sh, sw;       /* stride */
    int pt, ph, pw;       /* zero padding, both sides */
    int to, ho, wo;       /* output [n][to][ho][wo][cout], set by vidai_conv_desc_init */
} vidai_conv_desc;

/* Computes to/ho/wo; returns VIDA_EINVAL if any size is < 1 or the output is empty. */
int vidai_conv_desc_init(vidai_conv_desc *d);

/* y = conv(x, w) (+ bias[cout] if bias) (then max(0, .) if relu). */
int vidai_cpu_conv_forward(vidai_pool *pool, const vidai_conv_desc *d, const float *x,
                           const float *w, const float *bias, int relu, float *y);
/* dx += conv_transpose(dy, w). */
int vidai_cpu_conv_backward_data(vidai_pool *pool, const vidai_conv_desc *d, const float *dy,
                                 const float *w, float *dx);
/* dw += correlation of x and dy. */
int vidai_cpu_conv_backward_filter(vidai_pool *pool, const vidai_conv_desc *d, const float *x,
                                   const float *dy, float *dw);

/*
 * Batch norm over rows (N*T*H*W) x c channels.
 * Training: normalise with the batch's biased variance; save mean and
 * 1/sqrt(var+eps) for backward; update running_mean/var (if not NULL) as
 * PyTorch does: r = (1-momentum) r + momentum * batch, with the unbiased
 * variance (rows/(rows-1)) for running_var.
 */
void vidai_cpu_bn_forward_train(vidai_pool *pool, int64_t rows, int c, const float *x,
                                const float *gamma, const float *beta, float eps, float momentum,
                                float *running_mean, float *running_var, float *save_mean,
                                float *save_invstd, float *y);
/* Inference: y = (x - mean) / sqrt(var + eps) * gamma + beta. */
void vidai_cpu_bn_forward_eval(vidai_pool *pool, int64_t rows, int c, const float *x,
                               const float *gamma, const float *beta, const float *mean,
                               const float *var, float eps, float *y);
/* Backward of the training-mode forward: dx, dgamma, dbeta += ... (overwrite: dx = ...). */
void vidai_cpu_bn_backward_train(vidai_pool *pool, int64_t rows, int c, const float *x,
                                 const float *dy, const float *gamma, const float *save_mean,
                                 const float *save_invstd, float *dx, float *dgamma, float *dbeta,
                                 int overwrite);
/* Backward of the eval-mode forward (frozen BN): dx += dy*gamma*invstd; dgamma, dbeta may be NULL. */
void vidai_cpu_bn_backward_eval(vidai_pool *pool, int64_t rows, int c, const float *x,
                                const float *dy, const float *gamma, const float *mean,
                                const float *var, float eps, float *dx, float *dgamma,
                                float *dbeta);

/* y = max(x, 0) (y may equal x); dx += dy * (y > 0) (overwrite: dx = ...). */
void vidai_cpu_relu_forward(vidai_pool *pool, int64_t n, const float *x, float *y);
void vidai_cpu_relu_backward(vidai_pool *pool, int64_t n, const float *y, const float *dy,
                             float *dx, int overwrite);
/* y = a + b (then relu if relu); y may equal a or b. */
void vidai_cpu_add_forward(vidai_pool *pool, int64_t n, const float *a, const float *b, int relu,
                           float *y);
/* y += x. */
void vidai_cpu_accumulate(vidai_pool *pool, int64_t n, const float *x, float *y);

/*
 * Pooling over [n][t][h][w][c] with kernel/stride/padding as in a conv desc
 * (cin == cout == c). Max: padding is -inf, argmax stores the flat input
 * index (within the sample) for backward. Average: count_include_pad as
 * PyTorch's default (divisor kt*kh*kw).
 */
void vidai_cpu_maxpool_forward(vidai_pool *pool, const vidai_conv_desc *d, const float *x,
                               float *y, int32_t *argmax);
void vidai_cpu_maxpool_backward(vidai_pool *pool, const vidai_conv_desc *d, const float *dy,
                                const int32_t *argmax, float *dx);
void vidai_cpu_avgpool_forward(vidai_pool *pool, const vidai_conv_desc *d, const float *x,
                               float *y);
void vidai_cpu_avgpool_backward(vidai_pool *pool, const vidai_conv_desc *d, const float *dy,
                                float *dx);
/* Global average pool: x [n][s][c] -> y [n][c]; dx += dy / s. */
void vidai_cpu_global_avgpool_forward(vidai_pool *pool, int n, int64_t s, int c, const float *x,
                                      float *y);
void vidai_cpu_global_avgpool_backward(vidai_pool *pool, int n, int64_t s, int c, const float *dy,
                                       float *dx);

/* y[n][out] = x[n][in] w[out][in]^T + b (b may be NULL). */
void vidai_cpu_linear_forward(int n, int in, int out, const float *x, const float *w,
                              const float *b, float *y);
/* dx (may be NULL), dw, db (may be NULL) += ... */
void vidai_cpu_linear_backward(int n, int in, int out, const float *x, const float *w,
                               const float *dy, float *dx, float *dw, float *db);

/*
 * Inverted dropout: mask[i] = (rng(key, i) >= p) / (1-p); y = x * mask.
 * Backward: dx += dy * mask.
 */
void vidai_cpu_dropout_forward(int64_t n, float p, uint64_t key, const float *x, float *mask,
                               float *y);
void vidai_cpu_dropout_backward(int64_t n, const float *mask, const float *dy, float *dx);

/*
 * Losses over logits [n][k]: returns the mean loss in *loss (double
 * accumulation) and, if dlogits is not NULL, writes (overwrites) its gradient.
 * Hard: labels in [0, k) (checked by the caller). Soft: target rows are
 * probability vectors. BCE: mean over n*k elements, as PyTorch's
 * BCEWithLogitsLoss(reduction='mean').
 */
void vidai_cpu_softmax_xent_hard(int n, int k, const float *logits, const int32_t *labels,
                                 float *loss, float *dlogits);
void vidai_cpu_softmax_xent_soft(int n, int k, const float *logits, const float *target,
                                 float *loss, float *dlogits);
void vidai_cpu_sigmoid_bce(int n, int k, const float *logits, const float *target, float *loss,
                           float *dlogits);

/*
 * Dispatch by context: the op table above, run on the context's backend
 * (the CPU ops with its thread pool, or the CUDA ops of backend/cuda on its
 * device). Pointers are host memory on the CPU backend and device memory on
 * CUDA; vidai_be_alloc gives the right kind. Each returns VIDA_OK or an
 * error code with the message recorded (CPU ops fail only on memory).
 */
void *vidai_be_alloc(const vida_context *ctx, size_t bytes);
void vidai_be_free(const vida_context *ctx, void *p);
int vidai_be_upload(const vida_context *ctx, void *dst, const void *host, size_t bytes);
int vidai_be_download(const vida_context *ctx, void *host, const void *src, size_t bytes);
int vidai_be_copy(const vida_context *ctx, void *dst, const void *src, size_t bytes);
int vidai_be_zero(const vida_context *ctx, void *dst, size_t bytes);
int vidai_be_is_cuda(const vida_context *ctx);
/* VIDA_PRECISION_* of the context's models (always FP32 on the CPU). */
int vidai_be_precision(const vida_context *ctx);

/*
 * Typed ops: activations (and their gradients) stored as fp32 (VIDAI_F32) or,
 * on CUDA in precision BF16, bf16 (VIDAI_BF16), as each type argument says;
 * arithmetic in fp32. Weights, their gradients and BN tensors are fp32. The
 * CPU takes VIDAI_F32 only (VIDA_EUNSUPPORTED otherwise).
 */
enum { VIDAI_F32 = 0, VIDAI_BF16 = 1 };
/* Whether models of this context store activations in bf16 (vidai_cuda_act16). */
int vidai_be_act16(const vida_context *ctx);
int vidai_be_conv_forward_t(const vida_context *ctx, const vidai_conv_desc *d, const void *x,
                            int xt, const float *w, const float *bias, int relu, void *y, int yt);
/* dx += (= if overwrite) conv_transpose(dy, w). */
int vidai_be_conv_backward_data_t(const vida_context *ctx, const vidai_conv_desc *d, const void *dy,
                                  int dyt, const float *w, void *dx, int dxt, int overwrite);
int vidai_be_conv_backward_filter_t(const vida_context *ctx, const vidai_conv_desc *d,
                                    const void *x, int xt, const void *dy, int dyt, float *dw);
/* Training batch norm, then ReLU if relu: y = max(0, bn(x)); x and y of type t. */
int vidai_be_bn_forward_train_t(const vida_context *ctx, int64_t rows, int c, const void *x,
                                const float *gamma, const float *beta, float eps, float momentum,
                                float *running_mean, float *running_var, float *save_mean,
                                float *save_invstd, int relu, void *y, int t);
/* Its backward: dx += (= if overwrite) the gradient at x, dgamma, dbeta +=; with ry (the fused
   forward's output; CUDA only) dy is the gradient after the ReLU. x, ry, dy, dx of type t. */
int vidai_be_bn_backward_train_t(const vida_context *ctx, int64_t rows, int c, const void *x,
                                 const void *ry, const void *dy, const float *gamma,
                                 const float *save_mean, const float *save_invstd, void *dx,
                                 float *dgamma, float *dbeta, int overwrite, int t);
/* y = max(0, a + b); backward: da += dy * (y > 0), db += the same (da may equal db);
   set_a, set_b: da = ..., db = ... instead (never with da equal to db). */
int vidai_be_add_relu_forward_t(const vida_context *ctx, int64_t n, const void *a, const void *b,
                                void *y, int t);
int vidai_be_add_relu_backward_t(const vida_context *ctx, int64_t n, const void *y, const void *dy,
                                 void *da, void *db, int set_a, int set_b, int t);
/* Global average pool of x (type xt) into fp32 y; backward dx (type xt) += dy / s. */
int vidai_be_global_avgpool_forward_t(const vida_context *ctx, int n, int64_t s, int c,
                                      const void *x, int xt, float *y);
int vidai_be_global_avgpool_backward_t(const vida_context *ctx, int n, int64_t s, int c,
                                       const float *dy, void *dx, int xt);

int vidai_be_bn_forward_eval(const vida_context *ctx, int64_t rows, int c, const float *x,
                             const float *gamma, const float *beta, const float *mean,
                             const float *var, float eps, float *y);
/* overwrite (here and in relu_backward): dx is written whole, not added to, so it needs no
   clearing first (the CPU skips a pass over it; CUDA clears it and adds) */
int vidai_be_bn_backward_train(const vida_context *ctx, int64_t rows, int c, const float *x,
                               const float *dy, const float *gamma, const float *save_mean,
                               const float *save_invstd, float *dx, float *dgamma, float *dbeta,
                               int overwrite);
int vidai_be_bn_backward_eval(const vida_context *ctx, int64_t rows, int c, const float *x,
                              const float *dy, const float *gamma, const float *mean,
                              const float *var, float eps, float *dx, float *dgamma, float *dbeta);
int vidai_be_relu_forward(const vida_context *ctx, int64_t n, const float *x, float *y);
int vidai_be_relu_backward(const vida_context *ctx, int64_t n, const float *y, const float *dy,
                           float *dx, int overwrite);
int vidai_be_maxpool_forward(const vida_context *ctx, const vidai_conv_desc *d, const float *x,
                             float *y, int32_t *argmax);
int vidai_be_maxpool_backward(const vida_context *ctx, const vidai_conv_desc *d, const float *dy,
                              const int32_t *argmax, float *dx);
int vidai_be_linear_forward(const vida_context *ctx, int n, int in, int out, const float *x,
                            const float *w, const float *b, float *y);
int vidai_be_linear_backward(const vida_context *ctx, int n, int in, int out, const float *x,
                             const float *w, const float *dy, float *dx, float *dw, float *db);
int vidai_be_dropout_forward(const vida_context *ctx, int64_t n, float p, uint64_t key,
                             const float *x, float *mask, float *y);
int vidai_be_dropout_backward(const vida_context *ctx, int64_t n, const float *mask,
                              const float *dy, float *dx);
/* [n][c][s] -> [n][s][c] and back. */
int vidai_be_to_channels_last(const vida_context *ctx, int n, int c, int64_t s, const float *x,
                              float *y);
int vidai_be_to_channels_first(const vida_context *ctx, int n, int c, int64_t s, const float *x,
                               float *y);
/* uint8 [n][3] pixels (n = frames*h*w) -> float, (x/255 - mean[c]) / std[c]: the input normalisation. */
int vidai_be_normalize_u8(const vida_context *ctx, int64_t frames, int h, int w, const uint8_t *x,
                          const float mean[3], const float stdv[3], float *y);
/* The optimizer's update (see cuda.h) and per-tensor sums of squares (double, on the host). */
int vidai_be_sgd_update(const vida_context *ctx, int64_t n, float *w, const float *g, float *buf,
                        float lr, float wd, float mom, int nesterov, float scale);
int vidai_be_sumsq(const vida_context *ctx, int count, const float *const *x, const int64_t *n,
                   double *sums);

#endif
