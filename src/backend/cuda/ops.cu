/*
 * The non-convolution ops on the GPU: batch norm, ReLU/add, pooling, linear
 * (cuBLAS), dropout, losses, the SGD update, layouts and the uint8 input
 * normalisation. Each follows its CPU counterpart's arithmetic (backend.h,
 * cpu/): reductions accumulate in double, maxpool takes the first maximum in
 * (t, h, w) order, dropout draws the same counter-based random numbers.
 */
#include <math.h>
#include <string.h>

#include "backend/cuda/internal.cuh"

#define EW 256 /* threads of an elementwise kernel */
#define GRID_STRIDE(i, n)                                                                          \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);                    \
         i += (int64_t)gridDim.x * blockDim.x)

static int red_scratch(vidai_cuda *c, size_t doubles)
{
    return vidai_cuda_scratch(c, (void **)&c->red, &c->red_cap, doubles * sizeof(double));
}

/* --- batch norm ------------------------------------------------------------------------------ */

/*
 * Per-channel sums over rows, block (32 channels) x (8 row lanes); each
 * block covers a band of rows and adds its totals into acc[2][c] (double).
 * mode 0: s0 = sum (x - shift), s1 = sum (x - shift)^2, shift = x[0][ch].
 * mode 1: s0 = sum dy, s1 = sum dy * (x - mean) * invstd; with ry, dy is
 * first passed back through a ReLU whose output was ry (dy = 0 where ry <= 0).
 */
template <typename T>
__global__ void k_bn_stats(int64_t rows, int c, const T *__restrict__ x,
                           const T *__restrict__ dy, const T *__restrict__ ry,
                           const float *__restrict__ mean, const float *__restrict__ invstd,
                           int mode, double *acc)
{
    __shared__ double s0[8][33], s1[8][33];
    const int ch = blockIdx.x * 32 + threadIdx.x;
    double a0 = 0, a1 = 0;
    if (ch < c) {
        if (mode == 0) {
            const double shift = vidai_ld(x, ch);
            for (int64_t r = blockIdx.y * 8 + threadIdx.y; r < rows; r += (int64_t)gridDim.y * 8) {
                double v = (double)vidai_ld(x, r * c + ch) - shift;
                a0 += v;
                a1 += v * v;
            }
        } else {
            const float m = mean[ch], is = invstd[ch];
            for (int64_t r = blockIdx.y * 8 + threadIdx.y; r < rows; r += (int64_t)gridDim.y * 8) {
                float g = vidai_ld(dy, r * c + ch);
                if (ry && !(vidai_ld(ry, r * c + ch) > 0.0f)) /* through the ReLU that followed */
                    g = 0.0f;
                a0 += g;
                a1 += (double)g * ((vidai_ld(x, r * c + ch) - m) * is);
            }
        }
    }
    s0[threadIdx.y][threadIdx.x] = a0;
    s1[threadIdx.y][threadIdx.x] = a1;
    __syncthreads();
    if (threadIdx.y == 0 && ch < c) {
        for (int k = 1; k < 8; k++) {
            a0 += s0[k][threadIdx.x];
            a1 += s1[k][threadIdx.x];
        }
        atomicAdd(&acc[ch], a0);
        atomicAdd(&acc[c + ch], a1);
    }
}

template <typename T>
static int bn_stats(vidai_cuda *c, int64_t rows, int ch, const T *x, const T *dy, const T *ry,
                    const float *mean, const float *invstd, int mode)
{
    int rc = red_scratch(c, 2 * (size_t)ch);
    int64_t bands;
    dim3 grid, block(32, 8);
    if (rc != VIDA_OK)
        return rc;
    VIDAI_CUDA_CHECK(cudaMemsetAsync(c->red, 0, 2 * (size_t)ch * sizeof(double), c->stream),
                     "batch norm");
    grid.x = (unsigned)((ch + 31) / 32);
    bands = (rows + 255) / 256; /* >= 32 rows per lane */
    if (bands * grid.x > 4096)
        bands = 4096 / grid.x;
    grid.y = (unsigned)(bands < 1 ? 1 : bands > 65535 ? 65535 : bands);
    k_bn_stats<<<grid, block, 0, c->stream>>>(rows, ch, x, dy, ry, mean, invstd, mode, c->red);
    return vidai_cuda_launched("batch norm statistics");
}

template <typename T>
__global__ void k_bn_finish_train(int64_t rows, int c, const T *__restrict__ x,
                                  const double *__restrict__ acc, const float *__restrict__ gamma,
                                  const float *__restrict__ beta, float eps, float momentum,
                                  float *running_mean, float *running_var, float *save_mean,
                                  float *save_invstd, float *a, float *b)
{
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c)
        return;
    double dmean = acc[ch] / (double)rows;
    double var = acc[c + ch] / (double)rows - dmean * dmean;
    double mean = (double)vidai_ld(x, ch) + dmean;
    if (var < 0.0)
        var = 0.0;
    double invstd = 1.0 / sqrt(var + (double)eps);
    double g = gamma ? gamma[ch] : 1.0;
    save_mean[ch] = (float)mean;
    save_invstd[ch] = (float)invstd;
    if (running_mean)
        running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mean);
    if (running_var) {
        double unbiased = rows > 1 ? var * (double)rows / (double)(rows - 1) : var;
        running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
    }
    a[ch] = (float)(g * invstd);
    b[ch] = beta ? beta[ch] : 0.0f;
}

/* y = (x - mean) * a + b, per channel (then max(0, .) if relu). */
template <typename T>
__global__ void k_bn_affine(int64_t n, int c, const T *__restrict__ x,
                            const float *__restrict__ mean, const float *__restrict__ a,
                            const float *__restrict__ b, int relu, T *__restrict__ y)
{
    VIDAI_GRID_STRIDE_CH(i, ch, n, c)
    {
        float v = (vidai_ld(x, i) - mean[ch]) * a[ch] + b[ch];
        vidai_st(y, i, relu && !(v > 0.0f) ? 0.0f : v);
    }
}

/* The same on bf16 activations, eight at a time. */
__global__ void k_bn_affine16x8(int64_t n8, int c, const __nv_bfloat16 *__restrict__ x,
                                const float *__restrict__ mean, const float *__restrict__ a,
                                const float *__restrict__ b, int relu, __nv_bfloat16 *__restrict__ y)
{
    VIDAI_GRID_STRIDE_8(i8, ch, n8, c)
    {
        float v[8];
        vidai_ld8(x, i8, v);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            v[k] = (v[k] - mean[ch]) * a[ch] + b[ch];
            if (relu && !(v[k] > 0.0f))
                v[k] = 0.0f;
            VIDAI_NEXT_CH(ch, c);
        }
        vidai_st8(y, i8, v);
    }
}

static void bn_affine(vidai_cuda *c, int64_t n, int ch, const float *x, const float *mean,
                      const float *a, const float *b, int relu, float *y)
{
    k_bn_affine<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, ch, x, mean, a, b, relu, y);
}

static void bn_affine(vidai_cuda *c, int64_t n, int ch, const __nv_bfloat16 *x, const float *mean,
                      const float *a, const float *b, int relu, __nv_bfloat16 *y)
{
    if (vidai_vec8(n, x, y))
        k_bn_affine16x8<<<vidai_blocks(n / 8, EW), EW, 0, c->stream>>>(n / 8, ch, x, mean, a, b,
                                                                       relu, y);
    else
        k_bn_affine<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, ch, x, mean, a, b, relu, y);
}

template <typename T>
static int bn_forward_train(vidai_cuda *c, int64_t rows, int ch, const T *x,
                            const float *gamma, const float *beta, float eps, float momentum,
                            float *running_mean, float *running_var, float *save_mean,
                            float *save_invstd, int relu, T *y)
{
    float *ab;
    int rc;
    if (rows < 1 || ch < 1)
        return VIDA_OK;
    rc = bn_stats<T>(c, rows, ch, x, NULL, NULL, NULL, NULL, 0);
    if (rc != VIDA_OK)
        return rc;
    if (!(ab = (float *)vidai_cuda_malloc(c, 2 * (size_t)ch * sizeof(float))))
        return VIDA_ENOMEM;
    k_bn_finish_train<<<(ch + 127) / 128, 128, 0, c->stream>>>(rows, ch, x, c->red, gamma, beta,
                                                               eps, momentum, running_mean,
                                                               running_var, save_mean, save_invstd,
                                                               ab, ab + ch);
    bn_affine(c, rows * ch, ch, x, save_mean, ab, ab + ch, relu, y);
    vidai_cuda_free_mem(c, ab);
    return vidai_cuda_launched("batch norm forward (training)");
}

extern "C" int vidai_cuda_bn_forward_train(vidai_cuda *c, int64_t rows, int ch, const float *x,
                                           const float *gamma, const float *beta, float eps,
                                           float momentum, float *running_mean,
                                           float *running_var, float *save_mean,
                                           float *save_invstd, float *y)
{
    return bn_forward_train<float>(c, rows, ch, x, gamma, beta, eps, momentum, running_mean,
                                   running_var, save_mean, save_invstd, 0, y);
}

extern "C" int vidai_cuda_bn_relu_forward_train(vidai_cuda *c, int64_t rows, int ch,
                                                const float *x, const float *gamma,
                                                const float *beta, float eps, float momentum,
                                                float *running_mean, float *running_var,
                                                float *save_mean, float *save_invstd, float *y)
{
    return bn_forward_train<float>(c, rows, ch, x, gamma, beta, eps, momentum, running_mean,
                                   running_var, save_mean, save_invstd, 1, y);
}

__global__ void k_bn_eval_coef(int c, const float *gamma, const float *beta, const float *var,
                               float eps, float *a, float *b)
{
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c)
        return;
    double invstd = 1.0 / sqrt((double)var[ch] + (double)eps);
    a[ch] = (float)((gamma ? gamma[ch] : 1.0) * invstd);
    b[ch] = beta ? beta[ch] : 0.0f;
}

extern "C" int vidai_cuda_bn_forward_eval(vidai_cuda *c, int64_t rows, int ch, const float *x,
                                          const float *gamma, const float *beta, const float *mean,
                                          const float *var, float eps, float *y)
{
    float *ab;
    if (rows < 1 || ch < 1)
        return VIDA_OK;
    if (!(ab = (float *)vidai_cuda_malloc(c, 2 * (size_t)ch * sizeof(float))))
        return VIDA_ENOMEM;
    k_bn_eval_coef<<<(ch + 127) / 128, 128, 0, c->stream>>>(ch, gamma, beta, var, eps, ab, ab + ch);
    k_bn_affine<<<vidai_blocks(rows * ch, EW), EW, 0, c->stream>>>(rows * ch, ch, x, mean, ab,
                                                                  ab + ch, 0, y);
    vidai_cuda_free_mem(c, ab);
    return vidai_cuda_launched("batch norm forward (inference)");
}

/* From the dy statistics: dgamma/dbeta += and the dx coefficients a, b, e. */
__global__ void k_bn_bwd_coef(int64_t rows, int c, const double *__restrict__ acc,
                              const float *__restrict__ gamma, const float *__restrict__ invstd,
                              float *dgamma, float *dbeta, float *coef)
{
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c)
        return;
    if (dbeta)
        dbeta[ch] += (float)acc[ch];
    if (dgamma)
        dgamma[ch] += (float)acc[c + ch];
    coef[ch] = (gamma ? gamma[ch] : 1.0f) * invstd[ch];
    coef[c + ch] = (float)(acc[ch] / (double)rows);
    coef[2 * c + ch] = (float)(acc[c + ch] / (double)rows);
}

/* dx += a * (dy - b - xhat * e), xhat = (x - mean) * invstd; dy through the ReLU of output ry
   if ry; dx = instead of += if overwrite. */
template <typename T>
__global__ void k_bn_dx_train(int64_t n, int c, const T *__restrict__ x,
                              const T *__restrict__ dy, const T *__restrict__ ry,
                              const float *__restrict__ mean, const float *__restrict__ invstd,
                              const float *__restrict__ coef, int overwrite, T *__restrict__ dx)
{
    VIDAI_GRID_STRIDE_CH(i, ch, n, c)
    {
        float xhat = (vidai_ld(x, i) - mean[ch]) * invstd[ch];
        float g = vidai_ld(dy, i);
        if (ry && !(vidai_ld(ry, i) > 0.0f))
            g = 0.0f;
        float v = coef[ch] * (g - coef[c + ch] - xhat * coef[2 * c + ch]);
        vidai_st(dx, i, overwrite ? v : vidai_ld(dx, i) + v);
    }
}

/* The same on bf16 activations, eight at a time. */
__global__ void k_bn_dx_train16x8(int64_t n8, int c, const __nv_bfloat16 *__restrict__ x,
                                  const __nv_bfloat16 *__restrict__ dy,
                                  const __nv_bfloat16 *__restrict__ ry,
                                  const float *__restrict__ mean, const float *__restrict__ invstd,
                                  const float *__restrict__ coef, int overwrite,
                                  __nv_bfloat16 *__restrict__ dx)
{
    VIDAI_GRID_STRIDE_8(i8, ch, n8, c)
    {
        float xv[8], g[8], r[8], o[8];
        vidai_ld8(x, i8, xv);
        vidai_ld8(dy, i8, g);
        if (ry)
            vidai_ld8(ry, i8, r);
        if (!overwrite)
            vidai_ld8(dx, i8, o);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const float xhat = (xv[k] - mean[ch]) * invstd[ch];
            const float gk = ry && !(r[k] > 0.0f) ? 0.0f : g[k];
            const float v = coef[ch] * (gk - coef[c + ch] - xhat * coef[2 * c + ch]);
            o[k] = overwrite ? v : o[k] + v;
            VIDAI_NEXT_CH(ch, c);
        }
        vidai_st8(dx, i8, o);
    }
}

static void bn_dx(vidai_cuda *c, int64_t n, int ch, const float *x, const float *dy,
                  const float *ry, const float *mean, const float *invstd, const float *coef,
                  int overwrite, float *dx)
{
    k_bn_dx_train<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, ch, x, dy, ry, mean, invstd, coef,
                                                            overwrite, dx);
}

static void bn_dx(vidai_cuda *c, int64_t n, int ch, const __nv_bfloat16 *x,
                  const __nv_bfloat16 *dy, const __nv_bfloat16 *ry, const float *mean,
                  const float *invstd, const float *coef, int overwrite, __nv_bfloat16 *dx)
{
    if (vidai_vec8(n, x, dy, ry, dx))
        k_bn_dx_train16x8<<<vidai_blocks(n / 8, EW), EW, 0, c->stream>>>(
            n / 8, ch, x, dy, ry, mean, invstd, coef, overwrite, dx);
    else
        k_bn_dx_train<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, ch, x, dy, ry, mean, invstd,
                                                                coef, overwrite, dx);
}

template <typename T>
static int bn_backward_train(vidai_cuda *c, int64_t rows, int ch, const T *x, const T *ry,
                             const T *dy, const float *gamma, const float *save_mean,
                             const float *save_invstd, T *dx, float *dgamma, float *dbeta,
                             int overwrite)
{
    float *coef;
    int rc;
    if (rows < 1 || ch < 1)
        return VIDA_OK;
    rc = bn_stats<T>(c, rows, ch, x, dy, ry, save_mean, save_invstd, 1);
    if (rc != VIDA_OK)
        return rc;
    if (!(coef = (float *)vidai_cuda_malloc(c, 3 * (size_t)ch * sizeof(float))))
        return VIDA_ENOMEM;
    k_bn_bwd_coef<<<(ch + 127) / 128, 128, 0, c->stream>>>(rows, ch, c->red, gamma, save_invstd,
                                                           dgamma, dbeta, coef);
    if (dx)
        bn_dx(c, rows * ch, ch, x, dy, ry, save_mean, save_invstd, coef, overwrite, dx);
    vidai_cuda_free_mem(c, coef);
    return vidai_cuda_launched("batch norm backward (training)");
}

extern "C" int vidai_cuda_bn_backward_train(vidai_cuda *c, int64_t rows, int ch, const float *x,
                                            const float *dy, const float *gamma,
                                            const float *save_mean, const float *save_invstd,
                                            float *dx, float *dgamma, float *dbeta)
{
    return bn_backward_train<float>(c, rows, ch, x, NULL, dy, gamma, save_mean, save_invstd, dx,
                                    dgamma, dbeta, 0);
}

extern "C" int vidai_cuda_bn_relu_backward_train(vidai_cuda *c, int64_t rows, int ch,
                                                 const float *x, const float *ry, const float *dy,
                                                 const float *gamma, const float *save_mean,
                                                 const float *save_invstd, float *dx,
                                                 float *dgamma, float *dbeta, int overwrite)
{
    return bn_backward_train<float>(c, rows, ch, x, ry, dy, gamma, save_mean, save_invstd, dx,
                                    dgamma, dbeta, overwrite);
}

/* The training batch norm on activations of either type (x16: bf16 storage, the handle's
   precision BF16): x, y, ry, dy, dx share it. */
extern "C" int vidai_cuda_bn_forward_train_t(vidai_cuda *c, int64_t rows, int ch, const void *x,
                                             const float *gamma, const float *beta, float eps,
                                             float momentum, float *running_mean,
                                             float *running_var, float *save_mean,
                                             float *save_invstd, int relu, void *y, int x16)
{
    if (x16)
        return bn_forward_train<__nv_bfloat16>(c, rows, ch, (const __nv_bfloat16 *)x, gamma, beta,
                                               eps, momentum, running_mean, running_var,
                                               save_mean, save_invstd, relu, (__nv_bfloat16 *)y);
    return bn_forward_train<float>(c, rows, ch, (const float *)x, gamma, beta, eps, momentum,
                                   running_mean, running_var, save_mean, save_invstd, relu,
                                   (float *)y);
}

extern "C" int vidai_cuda_bn_backward_train_t(vidai_cuda *c, int64_t rows, int ch, const void *x,
                                              const void *ry, const void *dy, const float *gamma,
                                              const float *save_mean, const float *save_invstd,
                                              void *dx, float *dgamma, float *dbeta,
                                              int overwrite, int x16)
{
    typedef const __nv_bfloat16 *cb;
    if (x16)
        return bn_backward_train<__nv_bfloat16>(c, rows, ch, (cb)x, (cb)ry, (cb)dy, gamma,
                                                save_mean, save_invstd, (__nv_bfloat16 *)dx,
                                                dgamma, dbeta, overwrite);
    return bn_backward_train<float>(c, rows, ch, (const float *)x, (const float *)ry,
                                    (const float *)dy, gamma, save_mean, save_invstd, (float *)dx,
                                    dgamma, dbeta, overwrite);
}

__global__ void k_bn_eval_bcoef(int c, const float *gamma, const float *var, float eps,
                                float *invstd, float *a)
{
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c)
        return;
    invstd[ch] = (float)(1.0 / sqrt((double)var[ch] + (double)eps));
    a[ch] = (gamma ? gamma[ch] : 1.0f) * invstd[ch];
}

__global__ void k_bn_eval_gb(int c, const double *__restrict__ acc, float *dgamma, float *dbeta)
{
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c)
        return;
    if (dbeta)
        dbeta[ch] += (float)acc[ch];
    if (dgamma)
        dgamma[ch] += (float)acc[c + ch];
}

/* dx += dy * a. */
__global__ void k_scale_acc(int64_t n, int c, const float *__restrict__ dy,
                            const float *__restrict__ a, float *__restrict__ dx)
{
    VIDAI_GRID_STRIDE_CH(i, ch, n, c) { dx[i] += dy[i] * a[ch]; }
}

extern "C" int vidai_cuda_bn_backward_eval(vidai_cuda *c, int64_t rows, int ch, const float *x,
                                           const float *dy, const float *gamma, const float *mean,
                                           const float *var, float eps, float *dx, float *dgamma,
                                           float *dbeta)
{
    float *tmp;
    int rc = VIDA_OK;
    if (rows < 1 || ch < 1)
        return VIDA_OK;
    if (!(tmp = (float *)vidai_cuda_malloc(c, 2 * (size_t)ch * sizeof(float))))
        return VIDA_ENOMEM;
    k_bn_eval_bcoef<<<(ch + 127) / 128, 128, 0, c->stream>>>(ch, gamma, var, eps, tmp, tmp + ch);
    if (dgamma || dbeta) {
        rc = bn_stats<float>(c, rows, ch, x, dy, NULL, mean, tmp, 1);
        if (rc == VIDA_OK)
            k_bn_eval_gb<<<(ch + 127) / 128, 128, 0, c->stream>>>(ch, c->red, dgamma, dbeta);
    }
    if (rc == VIDA_OK && dx)
        k_scale_acc<<<vidai_blocks(rows * ch, EW), EW, 0, c->stream>>>(rows * ch, ch, dy, tmp + ch, dx);
    vidai_cuda_free_mem(c, tmp);
    return rc != VIDA_OK ? rc : vidai_cuda_launched("batch norm backward (inference)");
}

/* --- elementwise ----------------------------------------------------------------------------- */

__global__ void k_relu(int64_t n, const float *x, float *y)
{
    GRID_STRIDE(i, n)
    {
        float v = x[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

__global__ void k_relu_bwd(int64_t n, const float *__restrict__ y, const float *__restrict__ dy,
                           float *dx)
{
    GRID_STRIDE(i, n)
    {
        if (y[i] > 0.0f)
            dx[i] += dy[i];
    }
}

template <typename T>
__global__ void k_add(int64_t n, const T *a, const T *b, int relu, T *y)
{
    GRID_STRIDE(i, n)
    {
        float v = vidai_ld(a, i) + vidai_ld(b, i);
        vidai_st(y, i, relu ? (v > 0.0f ? v : 0.0f) : v);
    }
}

/* The backward of y = relu(a + b): da += g and db += g, g = dy where y > 0 (da may be db). */
template <typename T>
__global__ void k_add_relu_bwd(int64_t n, const T *__restrict__ y, const T *__restrict__ dy, T *da,
                               T *db)
{
    GRID_STRIDE(i, n)
    {
        if (vidai_ld(y, i) > 0.0f) {
            const float g = vidai_ld(dy, i);
            vidai_st(da, i, vidai_ld(da, i) + g);
            vidai_st(db, i, vidai_ld(db, i) + g);
        }
    }
}

__global__ void k_acc(int64_t n, const float *x, float *y)
{
    GRID_STRIDE(i, n) { y[i] += x[i]; }
}

extern "C" int vidai_cuda_relu_forward(vidai_cuda *c, int64_t n, const float *x, float *y)
{
    if (n <= 0)
        return VIDA_OK;
    k_relu<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, x, y);
    return vidai_cuda_launched("relu");
}

extern "C" int vidai_cuda_relu_backward(vidai_cuda *c, int64_t n, const float *y, const float *dy,
                                        float *dx)
{
    if (n <= 0)
        return VIDA_OK;
    k_relu_bwd<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, y, dy, dx);
    return vidai_cuda_launched("relu backward");
}

extern "C" int vidai_cuda_add_forward(vidai_cuda *c, int64_t n, const float *a, const float *b,
                                      int relu, float *y)
{
    if (n <= 0)
        return VIDA_OK;
    k_add<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, a, b, relu, y);
    return vidai_cuda_launched("add");
}

/* relu(a + b) and its backward on bf16 activations, eight at a time (da may be db: each is
   read after the other is written). */
__global__ void k_add_relu16x8(int64_t n8, const __nv_bfloat16 *a, const __nv_bfloat16 *b,
                               __nv_bfloat16 *y)
{
    GRID_STRIDE(i8, n8)
    {
        float u[8], v[8];
        vidai_ld8(a, i8, u);
        vidai_ld8(b, i8, v);
#pragma unroll
        for (int k = 0; k < 8; k++)
            u[k] = u[k] + v[k] > 0.0f ? u[k] + v[k] : 0.0f;
        vidai_st8(y, i8, u);
    }
}

__global__ void k_add_relu_bwd16x8(int64_t n8, const __nv_bfloat16 *__restrict__ y,
                                   const __nv_bfloat16 *__restrict__ dy, __nv_bfloat16 *da,
                                   __nv_bfloat16 *db)
{
    GRID_STRIDE(i8, n8)
    {
        float yv[8], g[8], o[8];
        vidai_ld8(y, i8, yv);
        vidai_ld8(dy, i8, g);
#pragma unroll
        for (int k = 0; k < 8; k++)
            g[k] = yv[k] > 0.0f ? g[k] : 0.0f;
        vidai_ld8(da, i8, o);
#pragma unroll
        for (int k = 0; k < 8; k++)
            o[k] += g[k];
        vidai_st8(da, i8, o);
        vidai_ld8(db, i8, o);
#pragma unroll
        for (int k = 0; k < 8; k++)
            o[k] += g[k];
        vidai_st8(db, i8, o);
    }
}

extern "C" int vidai_cuda_add_relu_forward_t(vidai_cuda *c, int64_t n, const void *a,
                                             const void *b, void *y, int x16)
{
    if (n <= 0)
        return VIDA_OK;
    if (x16 && vidai_vec8(n, a, b, y))
        k_add_relu16x8<<<vidai_blocks(n / 8, EW), EW, 0, c->stream>>>(
            n / 8, (const __nv_bfloat16 *)a, (const __nv_bfloat16 *)b, (__nv_bfloat16 *)y);
    else if (x16)
        k_add<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, (const __nv_bfloat16 *)a,
                                                         (const __nv_bfloat16 *)b, 1,
                                                         (__nv_bfloat16 *)y);
    else
        k_add<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, (const float *)a, (const float *)b, 1,
                                                         (float *)y);
    return vidai_cuda_launched("add + relu");
}

extern "C" int vidai_cuda_add_relu_backward_t(vidai_cuda *c, int64_t n, const void *y,
                                              const void *dy, void *da, void *db, int x16)
{
    if (n <= 0)
        return VIDA_OK;
    if (x16 && vidai_vec8(n, y, dy, da, db))
        k_add_relu_bwd16x8<<<vidai_blocks(n / 8, EW), EW, 0, c->stream>>>(
            n / 8, (const __nv_bfloat16 *)y, (const __nv_bfloat16 *)dy, (__nv_bfloat16 *)da,
            (__nv_bfloat16 *)db);
    else if (x16)
        k_add_relu_bwd<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(
            n, (const __nv_bfloat16 *)y, (const __nv_bfloat16 *)dy, (__nv_bfloat16 *)da,
            (__nv_bfloat16 *)db);
    else
        k_add_relu_bwd<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(
            n, (const float *)y, (const float *)dy, (float *)da, (float *)db);
    return vidai_cuda_launched("add + relu backward");
}

extern "C" int vidai_cuda_accumulate(vidai_cuda *c, int64_t n, const float *x, float *y)
{
    if (n <= 0)
        return VIDA_OK;
    k_acc<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, x, y);
    return vidai_cuda_launched("accumulate");
}

/* --- pooling --------------------------------------------------------------------------------- */

/* One thread per output element (n, to, ho, wo, k); the first maximum in (t, h, w) order. */
__global__ void k_maxpool(vidai_conv_desc d, const float *__restrict__ x, float *__restrict__ y,
                          int32_t *__restrict__ am, int64_t total)
{
    GRID_STRIDE(i, total)
    {
        int64_t r = i;
        const int c = d.cin;
        int k = (int)(r % c);
        r /= c;
        int wo = (int)(r % d.wo);
        r /= d.wo;
        int ho = (int)(r % d.ho);
        r /= d.ho;
        int to = (int)(r % d.to);
        int n = (int)(r / d.to);
        int t0 = to * d.st - d.pt, h0 = ho * d.sh - d.ph, w0 = wo * d.sw - d.pw;
        int t1 = min(t0 + d.kt, d.t), h1 = min(h0 + d.kh, d.h), w1 = min(w0 + d.kw, d.w);
        const float *xs = x + (int64_t)n * d.t * d.h * d.w * c;
        float best = -INFINITY;
        int32_t arg = -1;
        for (int t = max(t0, 0); t < t1; t++)
            for (int h = max(h0, 0); h < h1; h++)
                for (int w = max(w0, 0); w < w1; w++) {
                    int32_t base = (int32_t)((((int64_t)t * d.h + h) * d.w + w) * c);
                    float v = xs[base + k];
                    if (v > best || isnan(v)) {
                        best = v;
                        arg = base + k;
                    }
                }
        y[i] = best;
        am[i] = arg;
    }
}

__global__ void k_maxpool_bwd(int64_t total, int64_t out_sample, int64_t in_sample,
                              const float *__restrict__ dy, const int32_t *__restrict__ am,
                              float *dx)
{
    GRID_STRIDE(i, total)
    {
        int32_t a = am[i];
        if (a >= 0)
            atomicAdd(&dx[(i / out_sample) * in_sample + a], dy[i]);
    }
}

__global__ void k_avgpool(vidai_conv_desc d, const float *__restrict__ x, float *__restrict__ y,
                          int64_t total)
{
    GRID_STRIDE(i, total)
    {
        int64_t r = i;
        const int c = d.cin;
        int k = (int)(r % c);
        r /= c;
        int wo = (int)(r % d.wo);
        r /= d.wo;
        int ho = (int)(r % d.ho);
        r /= d.ho;
        int to = (int)(r % d.to);
        int n = (int)(r / d.to);
        int t0 = to * d.st - d.pt, h0 = ho * d.sh - d.ph, w0 = wo * d.sw - d.pw;
        int t1 = min(t0 + d.kt, d.t), h1 = min(h0 + d.kh, d.h), w1 = min(w0 + d.kw, d.w);
        const float *xs = x + (int64_t)n * d.t * d.h * d.w * c;
        float s = 0.0f;
        for (int t = max(t0, 0); t < t1; t++)
            for (int h = max(h0, 0); h < h1; h++)
                for (int w = max(w0, 0); w < w1; w++)
                    s += xs[(((int64_t)t * d.h + h) * d.w + w) * c + k];
        y[i] = s * (1.0f / (float)(d.kt * d.kh * d.kw));
    }
}

/* Gather: each input element adds dy/divisor of every window that holds it. */
__global__ void k_avgpool_bwd(vidai_conv_desc d, const float *__restrict__ dy, float *dx,
                              int64_t total)
{
    GRID_STRIDE(i, total)
    {
        int64_t r = i;
        const int c = d.cin;
        int k = (int)(r % c);
        r /= c;
        int xw = (int)(r % d.w);
        r /= d.w;
        int xh = (int)(r % d.h);
        r /= d.h;
        int xt = (int)(r % d.t);
        int n = (int)(r / d.t);
        const float scale = 1.0f / (float)(d.kt * d.kh * d.kw);
        float s = 0.0f;
        for (int a = 0; a < d.kt; a++) {
            int tt = xt + d.pt - a;
            if (tt < 0 || tt % d.st || tt / d.st >= d.to)
                continue;
            for (int b = 0; b < d.kh; b++) {
                int hh = xh + d.ph - b;
                if (hh < 0 || hh % d.sh || hh / d.sh >= d.ho)
                    continue;
                for (int e = 0; e < d.kw; e++) {
                    int ww = xw + d.pw - e;
                    if (ww < 0 || ww % d.sw || ww / d.sw >= d.wo)
                        continue;
                    s += dy[((((int64_t)n * d.to + tt / d.st) * d.ho + hh / d.sh) * d.wo + ww / d.sw) * c + k] *
                         scale;
                }
            }
        }
        dx[i] += s;
    }
}

static int64_t pool_out(const vidai_conv_desc *d)
{
    return (int64_t)d->n * d->to * d->ho * d->wo * d->cin;
}

extern "C" int vidai_cuda_maxpool_forward(vidai_cuda *c, const vidai_conv_desc *d, const float *x,
                                          float *y, int32_t *argmax)
{
    int64_t total = pool_out(d);
    k_maxpool<<<vidai_blocks(total, EW), EW, 0, c->stream>>>(*d, x, y, argmax, total);
    return vidai_cuda_launched("max pool");
}

extern "C" int vidai_cuda_maxpool_backward(vidai_cuda *c, const vidai_conv_desc *d, const float *dy,
                                           const int32_t *argmax, float *dx)
{
    int64_t total = pool_out(d);
    int64_t outs = (int64_t)d->to * d->ho * d->wo * d->cin, ins = (int64_t)d->t * d->h * d->w * d->cin;
    k_maxpool_bwd<<<vidai_blocks(total, EW), EW, 0, c->stream>>>(total, outs, ins, dy, argmax, dx);
    return vidai_cuda_launched("max pool backward");
}

extern "C" int vidai_cuda_avgpool_forward(vidai_cuda *c, const vidai_conv_desc *d, const float *x,
                                          float *y)
{
    int64_t total = pool_out(d);
    k_avgpool<<<vidai_blocks(total, EW), EW, 0, c->stream>>>(*d, x, y, total);
    return vidai_cuda_launched("average pool");
}

extern "C" int vidai_cuda_avgpool_backward(vidai_cuda *c, const vidai_conv_desc *d, const float *dy,
                                           float *dx)
{
    int64_t total = (int64_t)d->n * d->t * d->h * d->w * d->cin;
    k_avgpool_bwd<<<vidai_blocks(total, EW), EW, 0, c->stream>>>(*d, dy, dx, total);
    return vidai_cuda_launched("average pool backward");
}

/* y[n][k] = mean over s of x[n][s][k]: block (32 channels x 8 lanes) per (sample, channel tile). */
template <typename T>
__global__ void k_gap(int64_t s, int c, const T *__restrict__ x, float *__restrict__ y)
{
    __shared__ double part[8][33];
    const int n = blockIdx.y, k = blockIdx.x * 32 + threadIdx.x;
    double a = 0;
    if (k < c)
        for (int64_t i = threadIdx.y; i < s; i += 8)
            a += vidai_ld(x, ((int64_t)n * s + i) * c + k);
    part[threadIdx.y][threadIdx.x] = a;
    __syncthreads();
    if (threadIdx.y == 0 && k < c) {
        for (int j = 1; j < 8; j++)
            a += part[j][threadIdx.x];
        y[(int64_t)n * c + k] = (float)(a / (double)s);
    }
}

template <typename T>
__global__ void k_gap_bwd(int64_t total, int64_t s, int c, const float *__restrict__ dy, T *dx)
{
    const float scale = 1.0f / (float)s;
    GRID_STRIDE(i, total)
    {
        int k = (int)(i % c);
        int64_t n = i / ((int64_t)c * s);
        vidai_st(dx, i, vidai_ld(dx, i) + dy[n * c + k] * scale);
    }
}

extern "C" int vidai_cuda_global_avgpool_forward(vidai_cuda *c, int n, int64_t s, int ch,
                                                 const float *x, float *y)
{
    dim3 grid((unsigned)((ch + 31) / 32), (unsigned)n), block(32, 8);
    if (n < 1 || ch < 1 || s < 1)
        return VIDA_OK;
    k_gap<<<grid, block, 0, c->stream>>>(s, ch, x, y);
    return vidai_cuda_launched("global average pool");
}

extern "C" int vidai_cuda_global_avgpool_backward(vidai_cuda *c, int n, int64_t s, int ch,
                                                  const float *dy, float *dx)
{
    int64_t total = (int64_t)n * s * ch;
    if (total <= 0)
        return VIDA_OK;
    k_gap_bwd<<<vidai_blocks(total, EW), EW, 0, c->stream>>>(total, s, ch, dy, dx);
    return vidai_cuda_launched("global average pool backward");
}

extern "C" int vidai_cuda_global_avgpool_forward_t(vidai_cuda *c, int n, int64_t s, int ch,
                                                   const void *x, int x16, float *y)
{
    dim3 grid((unsigned)((ch + 31) / 32), (unsigned)n), block(32, 8);
    if (!x16)
        return vidai_cuda_global_avgpool_forward(c, n, s, ch, (const float *)x, y);
    if (n < 1 || ch < 1 || s < 1)
        return VIDA_OK;
    k_gap<<<grid, block, 0, c->stream>>>(s, ch, (const __nv_bfloat16 *)x, y);
    return vidai_cuda_launched("global average pool");
}

extern "C" int vidai_cuda_global_avgpool_backward_t(vidai_cuda *c, int n, int64_t s, int ch,
                                                    const float *dy, void *dx, int x16)
{
    int64_t total = (int64_t)n * s * ch;
    if (!x16)
        return vidai_cuda_global_avgpool_backward(c, n, s, ch, dy, (float *)dx);
    if (total <= 0)
        return VIDA_OK;
    k_gap_bwd<<<vidai_blocks(total, EW), EW, 0, c->stream>>>(total, s, ch, dy,
                                                              (__nv_bfloat16 *)dx);
    return vidai_cuda_launched("global average pool backward");
}

/* --- linear ---------------------------------------------------------------------------------- */

__global__ void k_add_bias(int64_t total, int out, const float *__restrict__ b, float *y)
{
    VIDAI_GRID_STRIDE_CH(i, ch, total, out) { y[i] += b[ch]; }
}

/* db[k] += sum over rows of dy[.][k], in double. */
__global__ void k_colsum(int n, int out, const float *__restrict__ dy, float *db)
{
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= out)
        return;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += dy[(int64_t)i * out + k];
    db[k] += (float)s;
}

extern "C" int vidai_cuda_linear_forward(vidai_cuda *c, int n, int in, int out, const float *x,
                                         const float *w, const float *b, float *y)
{
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t s;
    /* column-major: y^T[out x n] = w^T^T ... = op_T(w[in x out]) x[in x n] */
    s = cublasSgemm(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in, x, in, &zero, y,
                    out);
    if (s != CUBLAS_STATUS_SUCCESS)
        return vidai_cublas_fail(s, "linear forward");
    if (b)
        k_add_bias<<<vidai_blocks((int64_t)n * out, EW), EW, 0, c->stream>>>((int64_t)n * out, out,
                                                                            b, y);
    return vidai_cuda_launched("linear forward");
}

extern "C" int vidai_cuda_linear_backward(vidai_cuda *c, int n, int in, int out, const float *x,
                                          const float *w, const float *dy, float *dx, float *dw,
                                          float *db)
{
    const float one = 1.0f;
    cublasStatus_t s;
    if (dx) { /* dx^T[in x n] += w[in x out] dy^T[out x n] */
        s = cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, in, dy, out, &one,
                        dx, in);
        if (s != CUBLAS_STATUS_SUCCESS)
            return vidai_cublas_fail(s, "linear backward (input)");
    }
    if (dw) { /* dw^T[in x out] += x^T[in x n] (dy^T)^T[n x out] */
        s = cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, in, dy, out, &one,
                        dw, in);
        if (s != CUBLAS_STATUS_SUCCESS)
            return vidai_cublas_fail(s, "linear backward (weight)");
    }
    if (db)
        k_colsum<<<(out + 127) / 128, 128, 0, c->stream>>>(n, out, dy, db);
    return vidai_cuda_launched("linear backward");
}

/* --- dropout --------------------------------------------------------------------------------- */

__device__ static uint64_t d_hash64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

__global__ void k_dropout(int64_t n, float p, uint64_t hkey, float keep_scale,
                          const float *__restrict__ x, float *__restrict__ mask,
                          float *__restrict__ y)
{
    GRID_STRIDE(i, n)
    {
        uint64_t r = d_hash64(hkey ^ ((uint64_t)i * 0xd1b54a32d192ed03ull));
        float u = (float)(r >> 40) * (1.0f / 16777216.0f);
        float m = u >= p ? keep_scale : 0.0f;
        mask[i] = m;
        y[i] = x[i] * m;
    }
}

__global__ void k_mul_acc(int64_t n, const float *__restrict__ m, const float *__restrict__ dy,
                          float *dx)
{
    GRID_STRIDE(i, n) { dx[i] += dy[i] * m[i]; }
}

extern "C" int vidai_cuda_dropout_forward(vidai_cuda *c, int64_t n, float p, uint64_t key,
                                          const float *x, float *mask, float *y)
{
    const float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    if (n <= 0)
        return VIDA_OK;
    k_dropout<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, p, vidai_hash64(key), keep_scale, x,
                                                        mask, y);
    return vidai_cuda_launched("dropout");
}

extern "C" int vidai_cuda_dropout_backward(vidai_cuda *c, int64_t n, const float *mask,
                                           const float *dy, float *dx)
{
    if (n <= 0)
        return VIDA_OK;
    k_mul_acc<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, mask, dy, dx);
    return vidai_cuda_launched("dropout backward");
}

/* --- losses ---------------------------------------------------------------------------------- */

/*
 * One block per row (k may be large). kind 0: hard labels, 1: soft targets,
 * 2: sigmoid BCE. Row losses go to rowloss[i] (double); dlogits overwritten.
 */
__global__ void k_loss(int n, int k, int kind, const float *__restrict__ z,
                       const int32_t *__restrict__ labels, const float *__restrict__ t,
                       double *rowloss, float *dlogits)
{
    __shared__ double sh[256];
    __shared__ double bcast[2];
    const int i = blockIdx.x;
    const float *zr = z + (int64_t)i * k;
    const float *tr = t ? t + (int64_t)i * k : NULL;
    double a;
    if (kind == 2) {
        const double count = (double)n * k;
        a = 0;
        for (int j = threadIdx.x; j < k; j += blockDim.x) {
            double x = zr[j], tt = tr[j], e = exp(-fabs(x));
            a += (x > 0.0 ? x : 0.0) - x * tt + log1p(e);
            if (dlogits) {
                double sig = x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
                dlogits[(int64_t)i * k + j] = (float)((sig - tt) / count);
            }
        }
        sh[threadIdx.x] = a;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s)
                sh[threadIdx.x] += sh[threadIdx.x + s];
            __syncthreads();
        }
        if (threadIdx.x == 0)
            rowloss[i] = sh[0];
        return;
    }
    /* max */
    a = -INFINITY;
    for (int j = threadIdx.x; j < k; j += blockDim.x)
        a = fmax(a, (double)zr[j]);
    sh[threadIdx.x] = a;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            sh[threadIdx.x] = fmax(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    if (threadIdx.x == 0)
        bcast[0] = sh[0];
    __syncthreads();
    const double m = bcast[0];
    /* sum exp, and for soft targets sum t and sum t*(z) */
    double se = 0, ts = 0, tz = 0;
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        se += exp((double)zr[j] - m);
        if (kind == 1) {
            ts += tr[j];
            tz += (double)tr[j] * zr[j];
        }
    }
    double lse;
    sh[threadIdx.x] = se;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    lse = m + log(sh[0]);
    __syncthreads();
    if (kind == 1) {
        sh[threadIdx.x] = ts;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s)
                sh[threadIdx.x] += sh[threadIdx.x + s];
            __syncthreads();
        }
        if (threadIdx.x == 0)
            bcast[1] = sh[0];
        __syncthreads();
        ts = bcast[1];
        sh[threadIdx.x] = tz;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s)
                sh[threadIdx.x] += sh[threadIdx.x + s];
            __syncthreads();
        }
        if (threadIdx.x == 0)
            rowloss[i] = ts * lse - sh[0]; /* sum t (lse - z) */
    } else if (threadIdx.x == 0) {
        rowloss[i] = lse - zr[labels[i]];
    }
    if (dlogits)
        for (int j = threadIdx.x; j < k; j += blockDim.x) {
            double p = exp((double)zr[j] - lse);
            double g = kind == 1 ? p * ts - tr[j] : p - (j == labels[i] ? 1.0 : 0.0);
            dlogits[(int64_t)i * k + j] = (float)(g / n);
        }
}

static int loss_run(vidai_cuda *c, int n, int k, int kind, const float *z, const int32_t *labels,
                    const float *t, float *loss, float *dlogits)
{
    double *host;
    double total = 0;
    int rc;
    if (n < 1 || k < 1)
        return vidai_error(VIDA_EINVAL, "loss: empty logits");
    if ((rc = red_scratch(c, (size_t)n)) != VIDA_OK)
        return rc;
    k_loss<<<n, 256, 0, c->stream>>>(n, k, kind, z, labels, t, c->red, dlogits);
    if ((rc = vidai_cuda_launched("loss")) != VIDA_OK)
        return rc;
    host = (double *)vidai_malloc((size_t)n * sizeof *host);
    if (!host)
        return VIDA_ENOMEM;
    rc = vidai_cuda_download(c, host, c->red, (size_t)n * sizeof *host);
    for (int i = 0; rc == VIDA_OK && i < n; i++)
        total += host[i];
    vidai_free(host);
    if (rc == VIDA_OK)
        *loss = (float)(kind == 2 ? total / ((double)n * k) : total / n);
    return rc;
}

extern "C" int vidai_cuda_softmax_xent_hard(vidai_cuda *c, int n, int k, const float *logits,
                                            const int32_t *labels, float *loss, float *dlogits)
{
    return loss_run(c, n, k, 0, logits, labels, NULL, loss, dlogits);
}

extern "C" int vidai_cuda_softmax_xent_soft(vidai_cuda *c, int n, int k, const float *logits,
                                            const float *target, float *loss, float *dlogits)
{
    return loss_run(c, n, k, 1, logits, NULL, target, loss, dlogits);
}

extern "C" int vidai_cuda_sigmoid_bce(vidai_cuda *c, int n, int k, const float *logits,
                                      const float *target, float *loss, float *dlogits)
{
    return loss_run(c, n, k, 2, logits, NULL, target, loss, dlogits);
}

__global__ void k_scale(int64_t n, float alpha, const float *x, float *y)
{
    GRID_STRIDE(i, n) { y[i] = alpha * x[i]; }
}

extern "C" int vidai_cuda_scale(vidai_cuda *c, int64_t n, float alpha, const float *x, float *y)
{
    if (n <= 0)
        return VIDA_OK;
    k_scale<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, alpha, x, y);
    return vidai_cuda_launched("scale");
}

/* --- optimizer ------------------------------------------------------------------------------- */

__global__ void k_sgd(int64_t n, float *w, const float *__restrict__ g, float *buf, float lr,
                      float wd, float mom, int nesterov, float scale)
{
    GRID_STRIDE(j, n)
    {
        float d = scale * g[j] + wd * w[j];
        if (buf) {
            float b = mom * buf[j] + d;
            buf[j] = b;
            d = nesterov ? d + mom * b : b;
        }
        w[j] -= lr * d;
    }
}

extern "C" int vidai_cuda_sgd_update(vidai_cuda *c, int64_t n, float *w, const float *g, float *buf,
                                     float lr, float wd, float mom, int nesterov, float scale)
{
    if (n <= 0)
        return VIDA_OK;
    k_sgd<<<vidai_blocks(n, EW), EW, 0, c->stream>>>(n, w, g, buf, lr, wd, mom, nesterov, scale);
    return vidai_cuda_launched("SGD update");
}

__global__ void k_sumsq(int64_t n, const float *__restrict__ x, double *out)
{
    __shared__ double sh[256];
    double a = 0;
    GRID_STRIDE(i, n) { a += (double)x[i] * x[i]; }
    sh[threadIdx.x] = a;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        atomicAdd(out, sh[0]);
}

extern "C" int vidai_cuda_sumsq(vidai_cuda *c, int count, const float *const *x, const int64_t *n,
                                double *sums)
{
    int rc;
    if (count <= 0)
        return VIDA_OK;
    if ((rc = red_scratch(c, (size_t)count)) != VIDA_OK)
        return rc;
    VIDAI_CUDA_CHECK(cudaMemsetAsync(c->red, 0, (size_t)count * sizeof(double), c->stream),
                     "gradient norm");
    for (int i = 0; i < count; i++) {
        unsigned blocks = vidai_blocks(n[i], 256);
        if (blocks > 1024)
            blocks = 1024;
        if (n[i] > 0 && x[i])
            k_sumsq<<<blocks, 256, 0, c->stream>>>(n[i], x[i], c->red + i);
    }
    if ((rc = vidai_cuda_launched("gradient norm")) != VIDA_OK)
        return rc;
    return vidai_cuda_download(c, sums, c->red, (size_t)count * sizeof(double));
}

/* --- layouts and input ----------------------------------------------------------------------- */

/* [n][c][s] -> [n][s][c] (to_nhwc) or back, one thread per element of the output. */
__global__ void k_transpose(int64_t total, int c, int64_t s, int to_nhwc, const float *__restrict__ x,
                            float *__restrict__ y)
{
    GRID_STRIDE(i, total)
    {
        int64_t n = i / ((int64_t)c * s), r = i % ((int64_t)c * s);
        if (to_nhwc) { /* i = (n, p, k) */
            int64_t p = r / c, k = r % c;
            y[i] = x[(n * c + k) * s + p];
        } else { /* i = (n, k, p) */
            int64_t k = r / s, p = r % s;
            y[i] = x[(n * s + p) * c + k];
        }
    }
}

extern "C" int vidai_cuda_nchw_to_nhwc(vidai_cuda *c, int n, int ch, int64_t s, const float *x,
                                       float *y)
{
    int64_t total = (int64_t)n * ch * s;
    if (total <= 0)
        return VIDA_OK;
    k_transpose<<<vidai_blocks(total, EW), EW, 0, c->stream>>>(total, ch, s, 1, x, y);
    return vidai_cuda_launched("layout");
}

extern "C" int vidai_cuda_nhwc_to_nchw(vidai_cuda *c, int n, int ch, int64_t s, const float *x,
                                       float *y)
{
    int64_t total = (int64_t)n * ch * s;
    if (total <= 0)
        return VIDA_OK;
    k_transpose<<<vidai_blocks(total, EW), EW, 0, c->stream>>>(total, ch, s, 0, x, y);
    return vidai_cuda_launched("layout");
}

struct norm_coef {
    float scale[3], shift[3]; /* y = x * scale + shift = (x/255 - mean)/std */
};

__global__ void k_normalize_u8(int64_t total, int h, int w, const uint8_t *__restrict__ x, int y0,
                               int x0, int oh, int ow, int flip, norm_coef k, float *__restrict__ y)
{
    GRID_STRIDE(i, total)
    {
        int64_t r = i;
        int ch = (int)(r % 3);
        r /= 3;
        int ox = (int)(r % ow);
        r /= ow;
        int oy = (int)(r % oh);
        int64_t f = r / oh; /* frame index over v*l */
        int sx = x0 + (flip ? ow - 1 - ox : ox);
        float v = (float)x[((f * h + (y0 + oy)) * w + sx) * 3 + ch];
        y[i] = (v / 255.0f - k.shift[ch]) / k.scale[ch];
    }
}

extern "C" int vidai_cuda_normalize_u8(vidai_cuda *c, int v, int l, int h, int w, const uint8_t *x,
                                       int y0, int x0, int oh, int ow, int flip,
                                       const float mean[3], const float stdv[3], float *y)
{
    norm_coef k;
    int64_t total = (int64_t)v * l * oh * ow * 3;
    if (y0 < 0 || x0 < 0 || oh < 1 || ow < 1 || y0 + oh > h || x0 + ow > w)
        return vidai_error(VIDA_EINVAL, "normalize: window %dx%d at (%d,%d) outside %dx%d", oh, ow,
                           y0, x0, h, w);
    for (int i = 0; i < 3; i++) {
        k.shift[i] = mean[i];
        k.scale[i] = stdv[i];
    }
    if (total <= 0)
        return VIDA_OK;
    k_normalize_u8<<<vidai_blocks(total, EW), EW, 0, c->stream>>>(total, h, w, x, y0, x0, oh, ow,
                                                                 flip, k, y);
    return vidai_cuda_launched("normalize");
}
