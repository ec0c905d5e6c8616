/*
 * The CUDA implementation of the op table (backend.h), C-callable. Only the
 * .cu files in this folder include CUDA headers; everything else sees this
 * header, and only when the build defines VIDA_HAVE_CUDA.
 *
 * Same conventions as the CPU ops: channels-last float32 activations, OTHWI
 * conv weights, [out][in] linear weights, forward ops overwrite, backward ops
 * ADD into every gradient. All pointers named like data are device pointers
 * unless said otherwise. Every op is queued on the handle's stream and
 * returns VIDA_OK, or VIDA_EDEVICE / VIDA_ENOMEM with the error recorded.
 *
 * fp32 is computed without TF32 (cuDNN FMA math, cuBLAS pedantic math), so
 * results agree with the CPU backend to float rounding. With the handle's
 * precision set to VIDAI_CUDA_BF16 (VIDAI_CUDA_FP16) the convolutions read
 * bf16 (fp16) copies of their inputs and weights and accumulate in fp32
 * (mixed precision; the master weights, BN and the loss stay fp32; fp16
 * gradients need loss scaling, which vida_train_step does).
 */
#ifndef VIDAI_CUDA_H
#define VIDAI_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vidai_cuda vidai_cuda;

enum { VIDAI_CUDA_FP32 = 0, VIDAI_CUDA_BF16 = 1, VIDAI_CUDA_FP16 = 2 };
enum { VIDAI_CONV_AUTO = 0, VIDAI_CONV_CUDNN = 1, VIDAI_CONV_DIRECT = 2 };

/* Number of usable devices (0 when there is no driver or no GPU). */
int vidai_cuda_device_count(void);
/* Opens device `device`: stream, cuDNN and cuBLAS handles, memory pool. */
int vidai_cuda_create(vidai_cuda **out, int device);
void vidai_cuda_free(vidai_cuda *c);
/* "NVIDIA H100 80GB HBM3, sm_90, driver 13.0, cuDNN 91900" */
const char *vidai_cuda_describe(const vidai_cuda *c);
void vidai_cuda_set_precision(vidai_cuda *c, int precision);
int vidai_cuda_precision(const vidai_cuda *c);
/* Whether models store activations in bf16: precision BF16 and VIDA_CUDA_ACT16 not "0" in the
   environment when the handle was made. */
int vidai_cuda_act16(const vidai_cuda *c);
/* Convolution engine: AUTO (cuDNN, the direct kernels where cuDNN has no algorithm), or forced. */
void vidai_cuda_set_conv_engine(vidai_cuda *c, int engine);
/* The cached convolution entries (shape x direction): how many, how many tried cuDNN's graph API
   and use a plan of it; the sum of the legacy algorithms' measured times and of the chosen
   ones' (ms, over the entries with a legacy algorithm). */
void vidai_cuda_conv_stats(const vidai_cuda *c, int *entries, int *graph_tried, int *graph_used,
                           double *legacy_ms, double *chosen_ms);
/* How many convolutions fell back to the direct kernels so far. */
int64_t vidai_cuda_direct_convs(const vidai_cuda *c);

/*
 * Profiling (VIDA_CUDA_PROFILE=1 in the environment when the handle is made):
 * every op of the dispatch, and the stages of a convolution, are timed one by
 * one with the stream drained before and after (so the times are device time
 * plus launch, and the whole runs slower than unprofiled). The table is
 * printed to stderr when the handle is freed, or on demand.
 */
int vidai_cuda_profiling(const vidai_cuda *c);
double vidai_cuda_prof_begin(vidai_cuda *c);
/* name must outlive the handle (a string literal or __func__). */
void vidai_cuda_prof_end(vidai_cuda *c, const char *name, double t0);
/* Prints the table (name, calls, ms in all, % of the sum) to f and, if reset, clears it. */
void vidai_cuda_prof_report(vidai_cuda *c, void *file, int reset);

/* Makes c's device the calling thread's current one (every op of the dispatch does this first). */
void vidai_cuda_use(vidai_cuda *c);

/* Memory: from the stream-ordered pool (cudaMallocAsync). NULL + error on failure. */
void *vidai_cuda_malloc(vidai_cuda *c, size_t bytes);
void vidai_cuda_free_mem(vidai_cuda *c, void *p);
int vidai_cuda_upload(vidai_cuda *c, void *dst, const void *host, size_t bytes);
int vidai_cuda_download(vidai_cuda *c, void *host, const void *src, size_t bytes);
int vidai_cuda_copy(vidai_cuda *c, void *dst, const void *src, size_t bytes);
int vidai_cuda_zero(vidai_cuda *c, void *dst, size_t bytes);
int vidai_cuda_sync(vidai_cuda *c);
/* Device memory in use by this process (total - free), bytes; pool reserve included. */
int vidai_cuda_mem_used(vidai_cuda *c, size_t *used, size_t *pool_reserved);

/* --- ops (backend.h's, on the device) ------------------------------------ */
int vidai_cuda_conv_forward(vidai_cuda *c, const vidai_conv_desc *d, const float *x,
                            const float *w, const float *bias, int relu, float *y);
int vidai_cuda_conv_backward_data(vidai_cuda *c, const vidai_conv_desc *d, const float *dy,
                                  const float *w, float *dx);
/* As conv_backward_data, but dx = instead of dx += (no clearing pass needed). */
int vidai_cuda_conv_backward_data_set(vidai_cuda *c, const vidai_conv_desc *d, const float *dy,
                                      const float *w, float *dx);
int vidai_cuda_conv_backward_filter(vidai_cuda *c, const vidai_conv_desc *d, const float *x,
                                    const float *dy, float *dw);

int vidai_cuda_bn_forward_train(vidai_cuda *c, int64_t rows, int ch, const float *x,
                                const float *gamma, const float *beta, float eps, float momentum,
                                float *running_mean, float *running_var, float *save_mean,
                                float *save_invstd, float *y);
/* Training batch norm and the ReLU after it in one: y = max(0, bn(x)) (statistics as above). */
int vidai_cuda_bn_relu_forward_train(vidai_cuda *c, int64_t rows, int ch, const float *x,
                                     const float *gamma, const float *beta, float eps,
                                     float momentum, float *running_mean, float *running_var,
                                     float *save_mean, float *save_invstd, float *y);
int vidai_cuda_bn_forward_eval(vidai_cuda *c, int64_t rows, int ch, const float *x,
                               const float *gamma, const float *beta, const float *mean,
                               const float *var, float eps, float *y);
int vidai_cuda_bn_backward_train(vidai_cuda *c, int64_t rows, int ch, const float *x,
                                 const float *dy, const float *gamma, const float *save_mean,
                                 const float *save_invstd, float *dx, float *dgamma, float *dbeta);
/* The backward of bn_relu_forward_train: ry is its output, dy the gradient there; dx += (or =, if
   overwrite) the gradient at x. */
int vidai_cuda_bn_relu_backward_train(vidai_cuda *c, int64_t rows, int ch, const float *x,
                                      const float *ry, const float *dy, const float *gamma,
                                      const float *save_mean, const float *save_invstd, float *dx,
                                      float *dgamma, float *dbeta, int overwrite);
int vidai_cuda_bn_backward_eval(vidai_cuda *c, int64_t rows, int ch, const float *x,
                                const float *dy, const float *gamma, const float *mean,
                                const float *var, float eps, float *dx, float *dgamma,
                                float *dbeta);

int vidai_cuda_relu_forward(vidai_cuda *c, int64_t n, const float *x, float *y);
int vidai_cuda_relu_backward(vidai_cuda *c, int64_t n, const float *y, const float *dy, float *dx);
int vidai_cuda_add_forward(vidai_cuda *c, int64_t n, const float *a, const float *b, int relu,
                           float *y);
int vidai_cuda_accumulate(vidai_cuda *c, int64_t n, const float *x, float *y);

int vidai_cuda_maxpool_forward(vidai_cuda *c, const vidai_conv_desc *d, const float *x, float *y,
                               int32_t *argmax);
int vidai_cuda_maxpool_backward(vidai_cuda *c, const vidai_conv_desc *d, const float *dy,
                                const int32_t *argmax, float *dx);
int vidai_cuda_avgpool_forward(vidai_cuda *c, const vidai_conv_desc *d, const float *x, float *y);
int vidai_cuda_avgpool_backward(vidai_cuda *c, const vidai_conv_desc *d, const float *dy,
                                float *dx);
int vidai_cuda_global_avgpool_forward(vidai_cuda *c, int n, int64_t s, int ch, const float *x,
                                      float *y);
int vidai_cuda_global_avgpool_backward(vidai_cuda *c, int n, int64_t s, int ch, const float *dy,
                                       float *dx);

int vidai_cuda_linear_forward(vidai_cuda *c, int n, int in, int out, const float *x,
                              const float *w, const float *b, float *y);
int vidai_cuda_linear_backward(vidai_cuda *c, int n, int in, int out, const float *x,
                               const float *w, const float *dy, float *dx, float *dw, float *db);

int vidai_cuda_dropout_forward(vidai_cuda *c, int64_t n, float p, uint64_t key, const float *x,
                               float *mask, float *y);
int vidai_cuda_dropout_backward(vidai_cuda *c, int64_t n, const float *mask, const float *dy,
                                float *dx);

/*
 * 16-bit activations: the same ops on activations (and their gradients)
 * stored as bf16 where a flag says so (x16, y16, ...; only with the handle's
 * precision BF16 -- the convolutions also take fp16 ones in FP16), fp32
 * otherwise. Arithmetic stays fp32 (statistics in double); results are
 * rounded to nearest even when stored. Weights, their gradients, BN
 * parameters and statistics are always fp32.
 */
int vidai_cuda_conv_forward_t(vidai_cuda *c, const vidai_conv_desc *d, const void *x, int x16,
                              const float *w, const float *bias, int relu, void *y, int y16);
/* dx += (= if overwrite) conv_transpose(dy, w). */
int vidai_cuda_conv_backward_data_t(vidai_cuda *c, const vidai_conv_desc *d, const void *dy,
                                    int dy16, const float *w, void *dx, int dx16, int overwrite);
int vidai_cuda_conv_backward_filter_t(vidai_cuda *c, const vidai_conv_desc *d, const void *x,
                                      int x16, const void *dy, int dy16, float *dw);
/* Training BN (then ReLU if relu); x and y of one type. */
int vidai_cuda_bn_forward_train_t(vidai_cuda *c, int64_t rows, int ch, const void *x,
                                  const float *gamma, const float *beta, float eps, float momentum,
                                  float *running_mean, float *running_var, float *save_mean,
                                  float *save_invstd, int relu, void *y, int x16);
/* Its backward (through the ReLU of output ry if ry is not NULL); x, ry, dy, dx of one type. */
int vidai_cuda_bn_backward_train_t(vidai_cuda *c, int64_t rows, int ch, const void *x,
                                   const void *ry, const void *dy, const float *gamma,
                                   const float *save_mean, const float *save_invstd, void *dx,
                                   float *dgamma, float *dbeta, int overwrite, int x16);
/* y = max(0, a + b); backward: da += g, db += g with g = dy where y > 0 (da may equal db). */
int vidai_cuda_add_relu_forward_t(vidai_cuda *c, int64_t n, const void *a, const void *b, void *y,
                                  int x16);
int vidai_cuda_add_relu_backward_t(vidai_cuda *c, int64_t n, const void *y, const void *dy,
                                   void *da, void *db, int x16);
/* Global average pool of x (either type) into fp32 y; backward dx (x's type) += dy / s. */
int vidai_cuda_global_avgpool_forward_t(vidai_cuda *c, int n, int64_t s, int ch, const void *x,
                                        int x16, float *y);
int vidai_cuda_global_avgpool_backward_t(vidai_cuda *c, int n, int64_t s, int ch, const float *dy,
                                         void *dx, int x16);

/* Losses: logits/labels/target/dlogits on the device, *loss on the host (waits). */
int vidai_cuda_softmax_xent_hard(vidai_cuda *c, int n, int k, const float *logits,
                                 const int32_t *labels, float *loss, float *dlogits);
int vidai_cuda_softmax_xent_soft(vidai_cuda *c, int n, int k, const float *logits,
                                 const float *target, float *loss, float *dlogits);
int vidai_cuda_sigmoid_bce(vidai_cuda *c, int n, int k, const float *logits, const float *target,
                           float *loss, float *dlogits);

/* SGD (optimizer.c's arithmetic): d = scale*g + wd*w; buf = mom*buf + d (if buf);
   d = nesterov ? d + mom*buf : buf; w -= lr*d. */
int vidai_cuda_sgd_update(vidai_cuda *c, int64_t n, float *w, const float *g, float *buf,
                          float lr, float wd, float mom, int nesterov, float scale);
/* sums[i] = sum of x_i^2 in double, for `count` tensors, downloaded to the host (waits). */
int vidai_cuda_sumsq(vidai_cuda *c, int count, const float *const *x, const int64_t *n,
                     double *sums);

/* Layouts: [n][c][s] <-> [n][s][c]. */
int vidai_cuda_nchw_to_nhwc(vidai_cuda *c, int n, int ch, int64_t s, const float *x, float *y);
int vidai_cuda_nhwc_to_nchw(vidai_cuda *c, int n, int ch, int64_t s, const float *x, float *y);
/* uint8 [v][l][h][w][3] -> float [v][l][h][w][3] channels-last, (x/255 - mean[c]) / std[c],
   from the window at (y0, x0) of size oh x ow, mirrored horizontally if flip. */
int vidai_cuda_normalize_u8(vidai_cuda *c, int v, int l, int h, int w, const uint8_t *x,
                            int y0, int x0, int oh, int ow, int flip, const float mean[3],
                            const float stdv[3], float *y);
/* Element type conversions for mixed precision (bf16 as uint16 bits, round to nearest even). */
int vidai_cuda_f32_to_bf16(vidai_cuda *c, int64_t n, const float *x, uint16_t *y);
int vidai_cuda_bf16_to_f32(vidai_cuda *c, int64_t n, const uint16_t *x, float *y);
int vidai_cuda_f32_to_f16(vidai_cuda *c, int64_t n, const float *x, uint16_t *y);
int vidai_cuda_f16_to_f32(vidai_cuda *c, int64_t n, const uint16_t *x, float *y);

/* y = alpha * x (y may equal x). */
int vidai_cuda_scale(vidai_cuda *c, int64_t n, float alpha, const float *x, float *y);

/* NCCL (builds with VIDA_HAVE_NCCL): see nccl.cu. */
typedef struct vidai_nccl vidai_nccl;
size_t vidai_nccl_id_size(void);
int vidai_nccl_unique_id(void *id, size_t size);
int vidai_nccl_create(vidai_nccl **out, vidai_cuda *c, int world, int rank, const void *id);
void vidai_nccl_free(vidai_nccl *n);
/* Sums x[0..count) over the ranks in place: on NCCL's own stream, after the work c's stream has
   queued so far. */
int vidai_nccl_allreduce_sum(vidai_nccl *n, vidai_cuda *c, float *x, int64_t count);
/* c's stream waits for every all-reduce queued so far. */
int vidai_nccl_join(vidai_nccl *n, vidai_cuda *c);

#ifdef __cplusplus
}
#endif
#endif
