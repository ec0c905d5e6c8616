/*
 * The op table by context: each vidai_be_* runs the CPU op on the context's
 * thread pool, or the CUDA op on its device (builds with VIDA_HAVE_CUDA).
 */
#include <string.h>

#include "backend/backend.h"
#ifdef VIDA_HAVE_CUDA
#include "backend/cuda/cuda.h"
#define CU(ctx) ((vidai_cuda *)(ctx)->cuda)
#define ON_CUDA(ctx, call)                                                                         \
    do {                                                                                           \
        if ((ctx)->cuda) {                                                                         \
            vidai_cuda_use(CU(ctx)); /* the context's device, whatever thread calls */             \
            return call;                                                                           \
        }                                                                                          \
    } while (0)
/* An op returning a status: timed by name when VIDA_CUDA_PROFILE is set (vidai_cuda_prof_*). */
#define ON_CUDA_OP(ctx, call)                                                                      \
    do {                                                                                           \
        if ((ctx)->cuda) {                                                                         \
            vidai_cuda *c_ = CU(ctx);                                                              \
            vidai_cuda_use(c_);                                                                    \
            if (vidai_cuda_profiling(c_)) {                                                        \
                double t0_ = vidai_cuda_prof_begin(c_);                                            \
                int rc_ = (call);                                                                  \
                vidai_cuda_prof_end(c_, __func__ + 9 /* after "vidai_be_" */, t0_);                \
                return rc_;                                                                        \
            }                                                                                      \
            return call;                                                                           \
        }                                                                                          \
    } while (0)
#else
#define ON_CUDA(ctx, call) ((void)0)
#define ON_CUDA_OP(ctx, call) ((void)0)
#endif

int vidai_be_is_cuda(const vida_context *ctx)
{
    return ctx && ctx->cuda != NULL;
}

int vidai_be_precision(const vida_context *ctx)
{
#ifdef VIDA_HAVE_CUDA
    if (ctx && ctx->cuda) {
        int p = vidai_cuda_precision(CU(ctx));
        return p == VIDAI_CUDA_BF16 ? VIDA_PRECISION_BF16
               : p == VIDAI_CUDA_FP16 ? VIDA_PRECISION_FP16 : VIDA_PRECISION_FP32;
    }
#endif
    return VIDA_PRECISION_FP32;
}

void *vidai_be_alloc(const vida_context *ctx, size_t bytes)
{
    ON_CUDA(ctx, vidai_cuda_malloc(CU(ctx), bytes));
    return vidai_malloc(bytes ? bytes : 1);
}

void vidai_be_free(const vida_context *ctx, void *p)
{
    if (!p)
        return;
#ifdef VIDA_HAVE_CUDA
    if (ctx->cuda) {
        vidai_cuda_use(CU(ctx));
        vidai_cuda_free_mem(CU(ctx), p);
        return;
    }
#endif
    vidai_free(p);
}

int vidai_be_upload(const vida_context *ctx, void *dst, const void *host, size_t bytes)
{
    ON_CUDA_OP(ctx, vidai_cuda_upload(CU(ctx), dst, host, bytes));
    if (bytes && dst != host)
        memcpy(dst, host, bytes);
    return VIDA_OK;
}

int vidai_be_download(const vida_context *ctx, void *host, const void *src, size_t bytes)
{
    ON_CUDA_OP(ctx, vidai_cuda_download(CU(ctx), host, src, bytes));
    if (bytes && host != src)
        memcpy(host, src, bytes);
    return VIDA_OK;
}

int vidai_be_copy(const vida_context *ctx, void *dst, const void *src, size_t bytes)
{
    ON_CUDA_OP(ctx, vidai_cuda_copy(CU(ctx), dst, src, bytes));
    if (bytes && dst != src)
        memcpy(dst, src, bytes);
    return VIDA_OK;
}

int vidai_be_zero(const vida_context *ctx, void *dst, size_t bytes)
{
    ON_CUDA_OP(ctx, vidai_cuda_zero(CU(ctx), dst, bytes));
    if (bytes)
        memset(dst, 0, bytes);
    return VIDA_OK;
}

/* --- the typed ops: activations in fp32 or (CUDA, precision BF16) bf16 ---------------------- */

int vidai_be_act16(const vida_context *ctx)
{
#ifdef VIDA_HAVE_CUDA
    if (ctx && ctx->cuda)
        return vidai_cuda_act16(CU(ctx));
#endif
    (void)ctx;
    return 0;
}

/* The CPU computes fp32 only. */
#define CPU_F32(what, t)                                                                           \
    do {                                                                                           \
        if (t)                                                                                     \
            return vidai_error(VIDA_EUNSUPPORTED, "%s: 16-bit activations on the CPU", what);      \
    } while (0)

int vidai_be_conv_forward_t(const vida_context *ctx, const vidai_conv_desc *d, const void *x,
                            int xt, const float *w, const float *bias, int relu, void *y, int yt)
{
    ON_CUDA_OP(ctx, vidai_cuda_conv_forward_t(CU(ctx), d, x, xt, w, bias, relu, y, yt));
    CPU_F32("convolution", xt | yt);
    return vidai_cpu_conv_forward(ctx->pool, d, x, w, bias, relu, y);
}

int vidai_be_conv_backward_data_t(const vida_context *ctx, const vidai_conv_desc *d, const void *dy,
                                  int dyt, const float *w, void *dx, int dxt, int overwrite)
{
    ON_CUDA_OP(ctx, vidai_cuda_conv_backward_data_t(CU(ctx), d, dy, dyt, w, dx, dxt, overwrite));
    CPU_F32("convolution backward data", dyt | dxt);
    if (overwrite)
        memset(dx, 0, (size_t)d->n * d->t * d->h * d->w * d->cin * sizeof(float));
    return vidai_cpu_conv_backward_data(ctx->pool, d, dy, w, dx);
}

int vidai_be_conv_backward_filter_t(const vida_context *ctx, const vidai_conv_desc *d,
                                    const void *x, int xt, const void *dy, int dyt, float *dw)
{
    ON_CUDA_OP(ctx, vidai_cuda_conv_backward_filter_t(CU(ctx), d, x, xt, dy, dyt, dw));
    CPU_F32("convolution backward filter", xt | dyt);
    return vidai_cpu_conv_backward_filter(ctx->pool, d, x, dy, dw);
}

int vidai_be_bn_forward_train_t(const vida_context *ctx, int64_t rows, int c, const void *x,
                                const float *gamma, const float *beta, float eps, float momentum,
                                float *running_mean, float *running_var, float *save_mean,
                                float *save_invstd, int relu, void *y, int t)
{
    ON_CUDA_OP(ctx, vidai_cuda_bn_forward_train_t(CU(ctx), rows, c, x, gamma, beta, eps, momentum,
                                                  running_mean, running_var, save_mean,
                                                  save_invstd, relu, y, t));
    CPU_F32("batch norm", t);
    vidai_cpu_bn_forward_train(ctx->pool, rows, c, x, gamma, beta, eps, momentum, running_mean,
                               running_var, save_mean, save_invstd, y);
    if (relu)
        vidai_cpu_relu_forward(ctx->pool, rows * c, y, y);
    return VIDA_OK;
}

int vidai_be_bn_backward_train_t(const vida_context *ctx, int64_t rows, int c, const void *x,
                                 const void *ry, const void *dy, const float *gamma,
                                 const float *save_mean, const float *save_invstd, void *dx,
                                 float *dgamma, float *dbeta, int overwrite, int t)
{
    ON_CUDA_OP(ctx, vidai_cuda_bn_backward_train_t(CU(ctx), rows, c, x, ry, dy, gamma, save_mean,
                                                   save_invstd, dx, dgamma, dbeta, overwrite, t));
    CPU_F32("batch norm backward", t);
    if (ry)
        return vidai_error(VIDA_EUNSUPPORTED, "fused batch norm + ReLU backward: CUDA only");
    vidai_cpu_bn_backward_train(ctx->pool, rows, c, x, dy, gamma, save_mean, save_invstd, dx,
                                dgamma, dbeta, overwrite);
    return VIDA_OK;
}

int vidai_be_add_relu_forward_t(const vida_context *ctx, int64_t n, const void *a, const void *b,
                                void *y, int t)
{
    ON_CUDA_OP(ctx, vidai_cuda_add_relu_forward_t(CU(ctx), n, a, b, y, t));
    CPU_F32("add + relu", t);
    vidai_cpu_add_forward(ctx->pool, n, a, b, 1, y);
    return VIDA_OK;
}

/* CUDA's backward kernels add into their output: where the caller asked for an overwrite, the
   output is cleared first (the CPU's kernels overwrite it themselves) */
static int clear_for_cuda(const vida_context *ctx, int overwrite, void *dst, size_t bytes)
{
    return ctx->cuda && overwrite && dst ? vidai_be_zero(ctx, dst, bytes) : VIDA_OK;
}

int vidai_be_add_relu_backward_t(const vida_context *ctx, int64_t n, const void *y, const void *dy,
                                 void *da, void *db, int set_a, int set_b, int t)
{
    if (da == db && (set_a || set_b))
        return vidai_error(VIDA_EINVAL, "add + relu backward: overwriting a gradient it adds to");
    const size_t bytes = (size_t)n * (t ? 2 : sizeof(float));
    int rc = clear_for_cuda(ctx, set_a, da, bytes);
    if (rc == VIDA_OK)
        rc = clear_for_cuda(ctx, set_b, db, bytes);
    if (rc != VIDA_OK)
        return rc;
    ON_CUDA_OP(ctx, vidai_cuda_add_relu_backward_t(CU(ctx), n, y, dy, da, db, t));
    CPU_F32("add + relu backward", t);
    vidai_cpu_relu_backward(ctx->pool, n, y, dy, da, set_a);
    vidai_cpu_relu_backward(ctx->pool, n, y, dy, db, set_b);
    return VIDA_OK;
}

int vidai_be_global_avgpool_forward_t(const vida_context *ctx, int n, int64_t s, int c,
                                      const void *x, int xt, float *y)
{
    ON_CUDA_OP(ctx, vidai_cuda_global_avgpool_forward_t(CU(ctx), n, s, c, x, xt, y));
    CPU_F32("global average pool", xt);
    vidai_cpu_global_avgpool_forward(ctx->pool, n, s, c, x, y);
    return VIDA_OK;
}

int vidai_be_global_avgpool_backward_t(const vida_context *ctx, int n, int64_t s, int c,
                                       const float *dy, void *dx, int xt)
{
    ON_CUDA_OP(ctx, vidai_cuda_global_avgpool_backward_t(CU(ctx), n, s, c, dy, dx, xt));
    CPU_F32("global average pool backward", xt);
    vidai_cpu_global_avgpool_backward(ctx->pool, n, s, c, dy, dx);
    return VIDA_OK;
}

int vidai_be_bn_forward_eval(const vida_context *ctx, int64_t rows, int c, const float *x,
                             const float *gamma, const float *beta, const float *mean,
                             const float *var, float eps, float *y)
{
    ON_CUDA_OP(ctx, vidai_cuda_bn_forward_eval(CU(ctx), rows, c, x, gamma, beta, mean, var, eps, y));
    vidai_cpu_bn_forward_eval(ctx->pool, rows, c, x, gamma, beta, mean, var, eps, y);
    return VIDA_OK;
}

int vidai_be_bn_backward_train(const vida_context *ctx, int64_t rows, int c, const float *x,
                               const float *dy, const float *gamma, const float *save_mean,
                               const float *save_invstd, float *dx, float *dgamma, float *dbeta,
                               int overwrite)
{
    int rc = clear_for_cuda(ctx, overwrite, dx, (size_t)rows * c * sizeof(float));
    if (rc != VIDA_OK)
        return rc;
    ON_CUDA_OP(ctx, vidai_cuda_bn_backward_train(CU(ctx), rows, c, x, dy, gamma, save_mean,
                                              save_invstd, dx, dgamma, dbeta));
    vidai_cpu_bn_backward_train(ctx->pool, rows, c, x, dy, gamma, save_mean, save_invstd, dx,
                                dgamma, dbeta, overwrite);
    return VIDA_OK;
}

int vidai_be_bn_backward_eval(const vida_context *ctx, int64_t rows, int c, const float *x,
                              const float *dy, const float *gamma, const float *mean,
                              const float *var, float eps, float *dx, float *dgamma, float *dbeta)
{
    ON_CUDA_OP(ctx, vidai_cuda_bn_backward_eval(CU(ctx), rows, c, x, dy, gamma, mean, var, eps, dx,
                                             dgamma, dbeta));
    vidai_cpu_bn_backward_eval(ctx->pool, rows, c, x, dy, gamma, mean, var, eps, dx, dgamma, dbeta);
    return VIDA_OK;
}

int vidai_be_relu_forward(const vida_context *ctx, int64_t n, const float *x, float *y)
{
    ON_CUDA_OP(ctx, vidai_cuda_relu_forward(CU(ctx), n, x, y));
    vidai_cpu_relu_forward(ctx->pool, n, x, y);
    return VIDA_OK;
}

int vidai_be_relu_backward(const vida_context *ctx, int64_t n, const float *y, const float *dy,
                           float *dx, int overwrite)
{
    int rc = clear_for_cuda(ctx, overwrite, dx, (size_t)n * sizeof(float));
    if (rc != VIDA_OK)
        return rc;
    ON_CUDA_OP(ctx, vidai_cuda_relu_backward(CU(ctx), n, y, dy, dx));
    vidai_cpu_relu_backward(ctx->pool, n, y, dy, dx, overwrite);
    return VIDA_OK;
}

int vidai_be_maxpool_forward(const vida_context *ctx, const vidai_conv_desc *d, const float *x,
                             float *y, int32_t *argmax)
{
    ON_CUDA_OP(ctx, vidai_cuda_maxpool_forward(CU(ctx), d, x, y, argmax));
    vidai_cpu_maxpool_forward(ctx->pool, d, x, y, argmax);
    return VIDA_OK;
}

int vidai_be_maxpool_backward(const vida_context *ctx, const vidai_conv_desc *d, const float *dy,
                              const int32_t *argmax, float *dx)
{
    ON_CUDA_OP(ctx, vidai_cuda_maxpool_backward(CU(ctx), d, dy, argmax, dx));
    vidai_cpu_maxpool_backward(ctx->pool, d, dy, argmax, dx);
    return VIDA_OK;
}

int vidai_be_linear_forward(const vida_context *ctx, int n, int in, int out, const float *x,
                            const float *w, const float *b, float *y)
{
    ON_CUDA_OP(ctx, vidai_cuda_linear_forward(CU(ctx), n, in, out, x, w, b, y));
    vidai_cpu_linear_forward(n, in, out, x, w, b, y);
    return VIDA_OK;
}

int vidai_be_linear_backward(const vida_context *ctx, int n, int in, int out, const float *x,
                             const float *w, const float *dy, float *dx, float *dw, float *db)
{
    ON_CUDA_OP(ctx, vidai_cuda_linear_backward(CU(ctx), n, in, out, x, w, dy, dx, dw, db));
    vidai_cpu_linear_backward(n, in, out, x, w, dy, dx, dw, db);
    return VIDA_OK;
}

int vidai_be_dropout_forward(const vida_context *ctx, int64_t n, float p, uint64_t key,
                             const float *x, float *mask, float *y)
{
    ON_CUDA_OP(ctx, vidai_cuda_dropout_forward(CU(ctx), n, p, key, x, mask, y));
    vidai_cpu_dropout_forward(n, p, key, x, mask, y);
    return VIDA_OK;
}

int vidai_be_dropout_backward(const vida_context *ctx, int64_t n, const float *mask,
                              const float *dy, float *dx)
{
    ON_CUDA_OP(ctx, vidai_cuda_dropout_backward(CU(ctx), n, mask, dy, dx));
    vidai_cpu_dropout_backward(n, mask, dy, dx);
    return VIDA_OK;
}

int vidai_be_to_channels_last(const vida_context *ctx, int n, int c, int64_t s, const float *x,
                              float *y)
{
    ON_CUDA_OP(ctx, vidai_cuda_nchw_to_nhwc(CU(ctx), n, c, s, x, y));
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < s; p++)
                y[(i * s + p) * c + k] = x[(i * c + k) * s + p];
    return VIDA_OK;
}

int vidai_be_to_channels_first(const vida_context *ctx, int n, int c, int64_t s, const float *x,
                               float *y)
{
    ON_CUDA_OP(ctx, vidai_cuda_nhwc_to_nchw(CU(ctx), n, c, s, x, y));
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < s; p++)
                y[(i * c + k) * s + p] = x[(i * s + p) * c + k];
    return VIDA_OK;
}

int vidai_be_normalize_u8(const vida_context *ctx, int64_t frames, int h, int w, const uint8_t *x,
                          const float mean[3], const float stdv[3], float *y)
{
    float lut[3][256];
    const int64_t px = frames * h * w;
    ON_CUDA_OP(ctx, vidai_cuda_normalize_u8(CU(ctx), (int)frames, 1, h, w, x, 0, 0, h, w, 0, mean,
                                         stdv, y));
    for (int c = 0; c < 3; c++)
        for (int b = 0; b < 256; b++)
            lut[c][b] = ((float)b / 255.0f - mean[c]) / stdv[c];
    for (int64_t i = 0; i < px; i++)
        for (int c = 0; c < 3; c++)
            y[i * 3 + c] = lut[c][x[i * 3 + c]];
    return VIDA_OK;
}

int vidai_be_sgd_update(const vida_context *ctx, int64_t n, float *w, const float *g, float *buf,
                        float lr, float wd, float mom, int nesterov, float scale)
{
    ON_CUDA_OP(ctx, vidai_cuda_sgd_update(CU(ctx), n, w, g, buf, lr, wd, mom, nesterov, scale));
    for (int64_t j = 0; j < n; j++) {
        float d = scale * g[j] + wd * w[j];
        if (buf) {
            buf[j] = mom * buf[j] + d;
            d = nesterov ? d + mom * buf[j] : buf[j];
        }
        w[j] -= lr * d;
    }
    return VIDA_OK;
}

int vidai_be_sumsq(const vida_context *ctx, int count, const float *const *x, const int64_t *n,
                   double *sums)
{
    ON_CUDA_OP(ctx, vidai_cuda_sumsq(CU(ctx), count, x, n, sums));
    for (int i = 0; i < count; i++) {
        double s = 0;
        for (int64_t j = 0; x[i] && j < n[i]; j++)
            s += (double)x[i][j] * x[i][j];
        sums[i] = s;
    }
    return VIDA_OK;
}
